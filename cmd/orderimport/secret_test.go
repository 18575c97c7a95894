package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/locale"
	"orderimport/internal/secret"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// runCLI runs the command as main does, with the environment the test set.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func clearSecretEnv(t *testing.T) {
	for _, k := range []string{config.EnvSecretKey, config.EnvSecretKeyOld, config.EnvDB, config.EnvLogLevel} {
		t.Setenv(k, "")
	}
	t.Setenv(config.EnvAllowPrivate, "true")
}

// running is a serving process: the app assembled from the environment, with a counter.
type running struct {
	app     *app.App
	account int64
	counter int64
	crm     string
}

func startRunning(t *testing.T, db string) *running {
	t.Helper()
	ctx := context.Background()
	cfg, err := loadConfig("serve", []string{"-db", db}, false, os.Stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, newLogger("error", os.Stderr), app.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	u, err := a.Store.UserByEmail(ctx, "owner@example.com")
	if err != nil {
		if u, _, err = a.Store.AddUser(ctx, "owner@example.com", "correct horse battery", "Shop", false); err != nil {
			t.Fatal(err)
		}
	}
	cs, _ := a.Store.Counters(ctx, u.AccountID)
	var counter int64
	if len(cs) > 0 {
		counter = cs[0].ID
	} else {
		c, err := a.Store.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
		if err != nil {
			t.Fatal(err)
		}
		counter = c.ID
	}
	emu := httptest.NewServer(crmemu.New(crmemu.Options{Seed: 1, Orders: 3}))
	t.Cleanup(emu.Close)
	return &running{app: a, account: u.AccountID, counter: counter, crm: emu.URL}
}

func (r *running) createTask(t *testing.T, name string) store.Task {
	t.Helper()
	active, u, k := false, r.crm, crmemu.DemoKey
	task, err := r.app.Tasks.Create(access.System(context.Background()), r.account, r.counter, tasks.Input{Name: &name, Active: &active,
		RetailCRM: &tasks.RetailCRMInput{URL: &u, APIKey: &k}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// openAll opens every stored key as an import run would.
func (r *running) openAll() error {
	tasks, err := r.app.Store.Tasks(context.Background(), r.account, 0)
	if err != nil {
		return err
	}
	for _, task := range tasks {
		key, err := r.app.Tasks.Keys.OpenKey(task)
		if err != nil {
			return err
		}
		if key != crmemu.DemoKey {
			return fmt.Errorf("task %d opened to another key", task.ID)
		}
		if _, err := r.app.Tasks.TriggerURL(context.Background(), &task, "http://127.0.0.1"); err != nil {
			return err
		}
	}
	// The signing secrets of webhooks and alert channels too.
	hooks, err := r.app.Store.Webhooks(context.Background(), r.account, 0)
	if err != nil {
		return err
	}
	chans, err := r.app.Store.AlertChannels(context.Background(), r.account)
	if err != nil {
		return err
	}
	sealed := make([]string, 0, len(hooks)+len(chans))
	for _, h := range hooks {
		sealed = append(sealed, h.SecretSealed)
	}
	for _, c := range chans {
		sealed = append(sealed, c.SecretSealed)
	}
	for _, v := range sealed {
		if secret, err := r.app.Tasks.Keys.OpenSecret(r.account, v); err != nil || !strings.HasPrefix(secret, "whsec_") {
			return fmt.Errorf("a signing secret: %q %v", secret, err)
		}
	}
	return nil
}

// addReceivers gives the account a webhook and an alert channel, each with a sealed secret.
func (r *running) addReceivers(t *testing.T) {
	t.Helper()
	ctx := access.System(context.Background())
	u := "http://127.0.0.1:9/hooks"
	if _, _, err := r.app.Tasks.CreateWebhook(ctx, r.account, r.counter, tasks.WebhookInput{URL: &u}); err != nil {
		t.Fatal(err)
	}
	typ := "webhook"
	if _, _, err := r.app.Tasks.CreateChannel(ctx, r.account, tasks.ChannelInput{Type: &typ, URL: &u}, "http://127.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

func keyIDs(t *testing.T, r *running) map[string]int {
	t.Helper()
	keys, err := r.app.Store.SealedKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, k := range keys {
		id, err := r.app.Keyring.KeyID(k.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		ids[id]++
	}
	return ids
}

// SQLite with its key file: rotation while a process serves. The serving process keeps
// opening every key during and after the rotation, seals new keys under the new key at once,
// and a restart opens everything from the key file and its .old file.
func TestSecretRotateKeyFile(t *testing.T) {
	clearSecretEnv(t)
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "shop.db")
	srv := startRunning(t, db)
	for _, n := range []string{"A", "B", "C"} {
		srv.createTask(t, n)
	}
	// The owner's TOTP secret is sealed with the same keys.
	owner, _ := srv.app.Store.UserByEmail(context.Background(), "owner@example.com")
	as := access.With(context.Background(), owner.ID, owner.AccountID, owner.Role)
	en, err := srv.app.People.BeginTOTP(as)
	if err != nil {
		t.Fatal(err)
	}
	otpCode, _ := totp.GenerateCode(en.Secret, time.Now())
	if _, err := srv.app.People.ConfirmTOTP(as, otpCode); err != nil {
		t.Fatal(err)
	}
	first := srv.app.Keyring.Primary()

	// The serving process works on while the rotation runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := srv.openAll(); err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}
	}()
	code, out, errOut := runCLI(t, "secret", "rotate", "-db", db)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("the serving process failed to open keys %d times during the rotation: %v", n, firstErr.Load())
	}
	if !strings.Contains(out, "stored RetailCRM keys: 3; sealed anew") || !strings.Contains(out, ": 3; under older keys: 0") ||
		!strings.Contains(out, "stored TOTP secrets: 1; sealed anew: 1") {
		t.Errorf("report:\n%s", out)
	}
	keyFile := filepath.Join(dir, "shop.key")
	primary, old, err := secret.LoadKeyFiles(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if primary == first || len(old) != 1 || old[0] != first {
		t.Fatalf("key files: primary %s, old %v; want a new primary and %s kept", primary, old, first)
	}
	if ids := keyIDs(t, srv); ids[primary.ID] != 3 || len(ids) != 1 {
		t.Fatalf("stored keys under %v, want all 3 under %s", ids, primary.ID)
	}
	if st, _ := srv.app.Store.TOTP(context.Background(), owner.ID); !strings.HasPrefix(st.Sealed, "v1."+primary.ID+".") {
		t.Errorf("the TOTP secret is sealed as %.12s…, want under %s", st.Sealed, primary.ID)
	}
	if err := srv.openAll(); err != nil {
		t.Fatalf("serving process after the rotation: %v", err)
	}
	d := srv.createTask(t, "D")
	if id, _ := srv.app.Keyring.KeyID(d.CRMKeySealed); id != primary.ID {
		t.Errorf("a key saved after the rotation is sealed under %s, want the new %s", id, primary.ID)
	}
	for _, f := range []string{keyFile, secret.OldKeysPath(keyFile)} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, info.Mode().Perm(), err)
		}
	}

	// A second rotation keeps both older keys; a restart opens everything.
	if code, out, errOut := runCLI(t, "secret", "rotate", "-db", db); code != 0 {
		t.Fatalf("second rotate: %d\n%s%s", code, out, errOut)
	}
	if _, old, _ := secret.LoadKeyFiles(keyFile); len(old) != 2 {
		t.Fatalf("older keys after two rotations: %v", old)
	}
	srv.app.Close()
	again := startRunning(t, db)
	if err := again.openAll(); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

func b64Key(fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))
}

// With keys from the environment (the PostgreSQL way): ORDERIMPORT_SECRET_KEY is the new
// primary key, ORDERIMPORT_SECRET_KEY_OLD the old one; without the old key the command says
// which tasks it could not open and fails.
func TestSecretRotateEnvironment(t *testing.T) {
	clearSecretEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "shop.db")
	t.Setenv(config.EnvSecretKey, b64Key(1))
	t.Setenv(config.EnvAllowPrivateWebhooks, "true")
	srv := startRunning(t, db)
	srv.createTask(t, "A")
	srv.createTask(t, "B")
	srv.addReceivers(t)
	srv.app.Close()

	t.Setenv(config.EnvSecretKey, b64Key(2))
	code, out, errOut := runCLI(t, "secret", "rotate", "-db", db)
	if code != 1 || !strings.Contains(out, "cannot be opened") || !strings.Contains(errOut, config.EnvSecretKeyOld) {
		t.Fatalf("rotate without the old key: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(config.EnvSecretKeyOld, b64Key(1))
	code, out, errOut = runCLI(t, "secret", "rotate", "-db", db)
	if code != 0 || !strings.Contains(out, "sealed anew under key") || !strings.Contains(out, "stored trigger tokens and signing secrets: 4; sealed anew: 4") {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(config.EnvSecretKeyOld, "")
	after := startRunning(t, db)
	if err := after.openAll(); err != nil {
		t.Fatalf("the new key alone opens every stored key after the rotation: %v", err)
	}
	if code, out, _ := runCLI(t, "secret", "rotate", "-db", db); code != 0 || !strings.Contains(out, "sealed anew under key "+after.app.Keyring.Primary().ID+": 0") {
		t.Fatalf("a second rotation has nothing to do: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(strings.TrimPrefix(db, "sqlite:")), "shop.key")); err == nil {
		t.Error("a key file was created although the key comes from the environment")
	}
}

func TestTokenListAndRevoke(t *testing.T) {
	clearSecretEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "shop.db")
	srv := startRunning(t, db)
	srv.app.Close()
	code, token, errOut := runCLI(t, "token", "create", "-db", db, "-email", "owner@example.com")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	token = strings.TrimSpace(token)
	code, out, _ := runCLI(t, "token", "list", "-db", db, "-email", "owner@example.com")
	if code != 0 || !strings.Contains(out, "owner@example.com") || !strings.Contains(out, "…"+token[len(token)-4:]) || !strings.Contains(out, "active") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if strings.Contains(out, token) || strings.Contains(out, token[:12]) {
		t.Fatalf("the list shows the token's value:\n%s", out)
	}
	if code, out, errOut := runCLI(t, "token", "revoke", "-db", db, "-email", "owner@example.com", "-id", "1"); code != 0 {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}
	if _, out, _ := runCLI(t, "token", "list", "-db", db, "-email", "owner@example.com"); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke:\n%s", out)
	}
	// Stored only as a hash: the database file and its WAL never hold the value.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(strings.TrimPrefix(db, "sqlite:") + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte(token[4:])) {
			t.Fatalf("the database file%s holds the token", suffix)
		}
	}
	after := startRunning(t, db)
	events, err := after.app.Store.AuditEvents(context.Background(), after.account, 0, 10)
	if err != nil || len(events) != 2 || events[0].Action != "token.revoke" || events[1].Action != "token.create" || events[0].Actor != "command line" {
		t.Fatalf("audit: %+v %v", events, err)
	}
	for _, e := range events {
		if strings.Contains(locale.Encode(e.Detail), token) {
			t.Fatalf("the audit log holds the token: %+v", e)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ORDERIMPORT_ALLOW_PRIVATE_CRM=true is the only way past the SSRF guard, and serve says so
// at start, as a warning, every time; without it there is no such line.
func TestAllowPrivateIsLoggedLoudlyAtStart(t *testing.T) {
	for _, allow := range []string{"true", ""} {
		clearSecretEnv(t)
		t.Setenv(config.EnvAllowPrivate, allow)
		ctx, cancel := context.WithCancel(context.Background())
		var stderr lockedBuffer
		done := make(chan error, 1)
		go func() {
			done <- serveCmd(ctx, []string{"-addr", "127.0.0.1:0", "-db", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "-workers", "0"}, &stderr)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), `msg=serving`) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("serve did not start: %s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(stderr.String(), "level=WARN msg=\"ORDERIMPORT_ALLOW_PRIVATE_CRM=true: CRM URLs may use http:// and point at loopback and private addresses")
		if warned != (allow == "true") {
			t.Errorf("ORDERIMPORT_ALLOW_PRIVATE_CRM=%q: warned %v\n%s", allow, warned, stderr.String())
		}
	}
}

// Passwords are 8 to 256 characters: user add refuses others before anything is stored.
func TestPasswordLengthLimits(t *testing.T) {
	clearSecretEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "shop.db")
	for _, c := range []struct{ pw, want string }{
		{"short77", "8 to 256 characters"},
		{strings.Repeat("p", 257), "8 to 256 characters"},
		{"password1", "among the most common"},
		{"a@example.com-secret", "must not contain your email"},
		{strings.Repeat("ab", 128), ""},
	} {
		pw, want := c.pw, c.want
		var out, errOut bytes.Buffer
		code := run([]string{"user", "add", "-db", db, "-email", "a@example.com", "-password-stdin"}, strings.NewReader(pw+"\n"), &out, &errOut)
		if want == "" {
			if code != 0 {
				t.Errorf("256 characters: exit %d %s", code, errOut.String())
			}
			continue
		}
		if code != 2 || !strings.Contains(errOut.String(), want) {
			t.Errorf("password %.20q: exit %d %s, want %q", pw, code, errOut.String(), want)
		}
	}
	// -role: a viewer joins the account; an unknown role is a usage error.
	var out, errOut bytes.Buffer
	if code := run([]string{"user", "add", "-db", db, "-email", "v@example.com", "-account", "a@example.com", "-role", "viewer", "-password-stdin"},
		strings.NewReader("a long viewer pass\n"), &out, &errOut); code != 0 || !strings.Contains(out.String(), "as viewer") {
		t.Errorf("a viewer: exit %d %s %s", code, out.String(), errOut.String())
	}
	if code := run([]string{"user", "add", "-db", db, "-email", "x@example.com", "-role", "admin", "-password-stdin"},
		strings.NewReader("a long admin pass\n"), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "owner, editor or viewer") {
		t.Errorf("an unknown role: exit %d %s", code, errOut.String())
	}
}
