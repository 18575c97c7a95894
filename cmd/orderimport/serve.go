package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/app"
	"orderimport/internal/audit"
	"orderimport/internal/config"
	"orderimport/internal/jobs"
	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
)

func loadConfig(name string, args []string, withAddr bool, stderr io.Writer, extra func(*flagSetT)) (config.Config, error) {
	fs := newFlags(name, stderr)
	resolve := config.Flags(fs, withAddr)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil {
		return config.Config{}, err
	}
	return resolve()
}

func warnPrivate(a *app.App) {
	if a.Config.AllowPrivate {
		a.Log.Warn("ORDERIMPORT_ALLOW_PRIVATE_CRM=true: CRM URLs may use http:// and point at loopback and private addresses. Use this only with emulators and in tests, never in production.")
	}
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, true, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	a, err := app.New(ctx, cfg, log, app.Options{Workers: cfg.Workers, Migrate: true, Jobs: jobs.Config{RescueAfter: cfg.RescueAfter}})
	if err != nil {
		return err
	}
	defer a.Close()
	warnPrivate(a)
	if a.KeyFileCreated {
		log.Info("generated the secret key that encrypts stored RetailCRM keys; back it up with the database", "path", cfg.KeyFilePath())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if p := cfg.Proxies.String(); p != "" {
		log.Info("X-Forwarded-For is believed from these proxies only", "trusted_proxies", p)
	}
	if cfg.OIDC.Issuer != "" {
		log.Info("single sign-on", "issuer", cfg.OIDC.Issuer, "redirect_url", cfg.OIDC.RedirectURL)
	}
	if cfg.SMTP.URL == "" {
		log.Info("no ORDERIMPORT_SMTP_URL: invitation links are shown to the owner only, not emailed")
	}
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/", "db", string(cfg.DB.Engine), "workers", cfg.Workers)
	return a.Serve(ctx, ln)
}

func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return &config.UsageError{Msg: "usage: orderimport user add -email E [-account NAME] [-role owner|editor|viewer] -password-stdin"}
	}
	var email, account, roleName *string
	var pwStdin *bool
	cfg, err := loadConfig("user add", args[1:], false, stderr, func(fs *flagSetT) {
		email = fs.String("email", "", "the user's email (login)")
		account = fs.String("account", "", "an existing account to join (default: a new account named after the email)")
		roleName = fs.String("role", string(access.Owner), "the user's role in the account: owner, editor or viewer")
		pwStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	})
	if err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" || !strings.Contains(*email, "@") {
		return &config.UsageError{Msg: "-email is required (an email address)"}
	}
	role, ok := access.ParseRole(strings.TrimSpace(*roleName))
	if !ok {
		return &config.UsageError{Msg: fmt.Sprintf("-role %q: must be owner, editor or viewer", *roleName)}
	}
	if !*pwStdin {
		return &config.UsageError{Msg: "-password-stdin is required: pass the password on stdin, never as an argument"}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if msg, ok := people.CheckPassword(*email, password); !ok {
		return &config.UsageError{Msg: locale.English().Msg(msg)}
	}
	a, err := app.New(ctx, cfg, newLogger(cfg.LogLevel, stderr), app.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	u, acc, err := a.Store.AddUserWithRole(ctx, *email, password, *account, *account != "", role)
	if err != nil {
		return err
	}
	a.Audit.RecordAs(ctx, audit.Actor{Via: audit.ViaCommandLine}, acc.ID, audit.UserJoin, fmt.Sprintf("user:%d", u.ID),
		locale.M("audit_user_added", "email", u.Email, "role", people.RoleName(role)))
	fmt.Fprintf(stdout, "user %s added to account %q (id %d) as %s\n", u.Email, acc.Name, acc.ID, role)
	return nil
}

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: orderimport token create -email E | orderimport token list -email E | orderimport token revoke -email E -id N"
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke" && args[0] != "list") {
		return &config.UsageError{Msg: usage}
	}
	sub := args[0]
	var email *string
	var id *string
	cfg, err := loadConfig("token "+sub, args[1:], false, stderr, func(fs *flagSetT) {
		email = fs.String("email", "", "the user's email")
		if sub == "revoke" {
			id = fs.String("id", "", "the token id (as `token list` shows it)")
		}
	})
	if err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return &config.UsageError{Msg: "-email is required"}
	}
	var tokenID int64
	if sub == "revoke" {
		tokenID, err = strconv.ParseInt(*id, 10, 64)
		if err != nil || tokenID <= 0 {
			return &config.UsageError{Msg: "-id must be a token id"}
		}
	}
	a, err := app.New(ctx, cfg, newLogger(cfg.LogLevel, stderr), app.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Store.UserByEmail(ctx, *email)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		return err
	}
	operator := audit.Actor{Via: audit.ViaCommandLine}
	switch sub {
	case "list":
		return listTokens(ctx, a, u, stdout)
	case "revoke":
		if err := a.Store.RevokeToken(ctx, u.AccountID, tokenID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("the account of %s has no active token %d", u.Email, tokenID)
			}
			return err
		}
		a.Audit.RecordAs(ctx, operator, u.AccountID, audit.TokenRevoke, fmt.Sprintf("token:%d", tokenID), locale.M("audit_token_revoked", "email", u.Email))
		fmt.Fprintf(stdout, "token %d revoked\n", tokenID)
		return nil
	}
	value, tok, err := a.Store.CreateToken(ctx, u.ID)
	if err != nil {
		return err
	}
	a.Audit.RecordAs(ctx, operator, u.AccountID, audit.TokenCreate, fmt.Sprintf("token:%d", tok.ID), locale.M("audit_token_created", "email", u.Email, "hint", tok.Hint))
	fmt.Fprintln(stdout, value)
	return nil
}

// listTokens prints the account's tokens: never their values, which are stored only hashed.
func listTokens(ctx context.Context, a *app.App, u store.User, stdout io.Writer) error {
	tokens, err := a.Store.Tokens(ctx, u.AccountID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tENDS WITH\tCREATED\tSTATUS")
	emails := map[int64]string{}
	for _, t := range tokens {
		if _, ok := emails[t.UserID]; !ok {
			owner, err := a.Store.UserByID(ctx, t.UserID)
			if err != nil {
				return err
			}
			emails[t.UserID] = owner.Email
		}
		status := "active"
		if t.RevokedAt != nil {
			status = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, emails[t.UserID], t.Hint, t.CreatedAt.UTC().Format(time.RFC3339), status)
	}
	return tw.Flush()
}
