// Command orderimport imports a shop's orders from RetailCRM into the tracker and keeps them
// in step. Run `orderimport help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "time/tzdata" // counters and RetailCRM accounts name IANA zones; do not depend on the host's tzdata

	"orderimport/internal/config"
)

const usage = `orderimport — imports RetailCRM orders into the tracker and keeps them in step.

Commands:
  serve        [-addr 127.0.0.1:8080] [-db URL] [-workers N]  web UI + JSON API + scheduler + import workers
  worker       -db postgres://… [-workers N]          import workers only (scale-out on PostgreSQL)
  migrate      [-db URL]                              apply schema migrations and exit
  migrate      -from sqlite:PATH -db postgres://…     move an embedded installation to PostgreSQL (verified copy)
  user add     -email E [-account NAME] [-role owner|editor|viewer] -password-stdin
  token create -email E                               print a new API token (one line)
  token list   -email E                               the account's tokens, without their values
  token revoke -email E -id N                         revoke one of the user's account's tokens
  secret rotate [-db URL]                             seal every stored RetailCRM key under a new key, while serving
  backup       -out FILE [-db URL]                    a consistent copy of the embedded database, while serving
  demo         [-addr 127.0.0.1:8080] [-dir DIR]      everything a newcomer needs, on the embedded store
  crm-emulator [-addr] [-orders N] [-rps N] [-key K]  the built-in RetailCRM emulator on its own
               [-answer-time D] [-answer-time-per-order D]

Environment: ORDERIMPORT_DB, ORDERIMPORT_ADDR, ORDERIMPORT_SECRET_KEY, ORDERIMPORT_SECRET_KEY_OLD,
ORDERIMPORT_ALLOW_PRIVATE_CRM, ORDERIMPORT_WORKERS, ORDERIMPORT_RESCUE_AFTER, ORDERIMPORT_LOG_LEVEL,
ORDERIMPORT_DB_MAX_CONNS, ORDERIMPORT_TRUSTED_PROXIES, ORDERIMPORT_SMTP_URL, ORDERIMPORT_SMTP_FROM,
ORDERIMPORT_OIDC_ISSUER, ORDERIMPORT_OIDC_CLIENT_ID, ORDERIMPORT_OIDC_CLIENT_SECRET,
ORDERIMPORT_OIDC_REDIRECT_URL, ORDERIMPORT_OIDC_NAME.
Flags win over the environment.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the process's exit code: 0 success, 2 usage error, 1 any other failure.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, rest, stderr)
	case "worker":
		err = workerCmd(ctx, rest, stderr)
	case "migrate":
		err = migrateCmd(ctx, rest, stdout, stderr)
	case "user":
		err = userCmd(ctx, rest, stdin, stdout, stderr)
	case "token":
		err = tokenCmd(ctx, rest, stdout, stderr)
	case "secret":
		err = secretCmd(ctx, rest, stdout, stderr)
	case "backup":
		err = backupCmd(ctx, rest, stdout, stderr)
	case "demo":
		err = demoCmd(ctx, rest, stdout, stderr)
	case "crm-emulator":
		err = emulatorCmd(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "orderimport: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue *config.UsageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "orderimport %s: %s\n", cmd, ue.Msg)
		return 2
	default:
		fmt.Fprintf(stderr, "orderimport %s: %v\n", cmd, err)
		return 1
	}
}

// newFlags makes a flag set whose parse errors are usage errors (exit 2).
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &config.UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &config.UsageError{Msg: fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

type flagSetT = flag.FlagSet
