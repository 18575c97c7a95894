package people_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/mail"
	"orderimport/internal/people"
	"orderimport/internal/pgtest"
	"orderimport/internal/secret"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// clock is a settable time shared by the services of one test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// outbox records what would have been mailed.
type outbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

type fixture struct {
	st    *store.Store
	svc   *people.Service
	clock *clock
	mail  *outbox
	key   *secret.Keyring
}

func newService(st *store.Store, kr *secret.Keyring, c *clock, box *outbox) *people.Service {
	svc := &people.Service{Store: st, Secrets: kr, Audit: &audit.Log{Store: st}, Now: c.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if box != nil {
		svc.Mailer = box
	}
	return svc
}

func sqliteFixture(t *testing.T) fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	k, _ := secret.GenerateKey()
	kr := secret.NewKeyring(k)
	c := &clock{now: time.Now().UTC()}
	box := &outbox{}
	return fixture{st: st, svc: newService(st, kr, c, box), clock: c, mail: box, key: kr}
}

// asUser is ctx acting as u from an address, as the adapters make it.
func asUser(u store.User, ip string) context.Context {
	ctx := people.Principal(context.Background(), u)
	return audit.WithActor(ctx, audit.Actor{UserID: u.ID, AccountID: u.AccountID, Email: u.Email, IP: ip, Via: audit.ViaSession})
}

// anonymous is ctx of a request nobody is signed in to, from an address.
func anonymous(ip string) context.Context {
	return audit.WithActor(context.Background(), audit.Actor{IP: ip, Via: audit.ViaSession})
}

func ptr(s string) *string { return &s }

func code(t *testing.T, err error) string {
	t.Helper()
	if m, ok := locale.MessageOf(err); ok {
		return m.Code
	}
	var inv *tasks.InvalidError
	if errors.As(err, &inv) {
		return inv.First().Field + ":" + inv.First().Msg.Code
	}
	var te *people.ThrottledError
	if errors.As(err, &te) {
		return "throttled"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func TestPasswordRules(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                     "password_length",
		"password":                  "password_common",
		"Password1":                 "password_common",
		"qwertyuiop":                "password_common",
		"ILOVEYOU1":                 "password_common",
		"Ilove-my-shop-2026":        "",
		"iloveyou":                  "password_common",
		"Trustno1":                  "password_common",
		"aaaaaaaaaaaa":              "password_common",
		"anna.karenina@example.com": "password_like_email",
		"karenina-2026-spring":      "",
		"correct horse battery":     "",
		"пароль-для-импорта":        "",
		strings.Repeat("x", 257):    "password_length",
	} {
		msg, ok := people.CheckPassword("anna.karenina@example.com", pw)
		got := msg.Code
		if ok != (want == "") || got != want {
			t.Errorf("%q: %q %v, want %q", pw, got, ok, want)
		}
	}
	// "karenina" is not the name part of anna.karenina@…: only the whole name part counts.
	if _, ok := people.CheckPassword("karenina@example.com", "karenina-2026-spring"); ok {
		t.Error("a password holding the email's name passed")
	}
}

func TestInvitations(t *testing.T) {
	f := sqliteFixture(t)
	ctx := context.Background()
	owner, acc, _ := f.st.AddUser(ctx, "owner@example.com", "long enough password", "Shop", false)
	other, _, _ := f.st.AddUser(ctx, "other@example.com", "long enough password", "Other", false)
	as := asUser(owner, "192.0.2.1")

	// Bad input names its fields.
	if _, err := f.svc.Invite(as, acc.ID, people.InviteInput{Email: ptr("not an email"), Role: ptr("admin")}, "https://oi.example", "ru"); code(t, err) != "email:user_email_invalid" {
		t.Errorf("bad input: %s", code(t, err))
	}
	inv, err := f.svc.Invite(as, acc.ID, people.InviteInput{Email: ptr("Viewer@Example.com"), Role: ptr("viewer")}, "https://oi.example/", "ru")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(inv.Link, "https://oi.example/invite/")
	if len(token) < 40 || !strings.HasPrefix(token, "oiv_") || !inv.Emailed || !inv.ExpiresAt.Equal(f.clock.Now().Add(72*time.Hour)) {
		t.Fatalf("invited %+v", inv)
	}
	if len(f.mail.sent) != 1 || f.mail.sent[0].To[0] != "viewer@example.com" || !strings.Contains(f.mail.sent[0].Text, inv.Link) ||
		!strings.Contains(f.mail.sent[0].HTML, inv.Link) || !strings.Contains(f.mail.sent[0].Subject, "Shop") || !strings.Contains(f.mail.sent[0].Text, "72") {
		t.Fatalf("mail %+v", f.mail.sent)
	}
	if _, err := f.svc.Invite(as, acc.ID, people.InviteInput{Email: ptr("other@example.com")}, "https://oi.example", "en"); !errors.Is(err, people.ErrEmailTaken) {
		t.Errorf("inviting another account's user: %v", err)
	}
	// Only owners manage users; another account's owner is refused.
	viewer, _, _ := f.st.AddUserWithRole(ctx, "v2@example.com", "long enough password", "Shop", true, access.Viewer)
	editor, _, _ := f.st.AddUserWithRole(ctx, "e2@example.com", "long enough password", "Shop", true, access.Editor)
	for _, who := range []store.User{viewer, editor, other} {
		if _, err := f.svc.Invite(asUser(who, "192.0.2.9"), acc.ID, people.InviteInput{Email: ptr("x@example.com")}, "https://oi.example", "en"); !errors.Is(err, access.ErrForbidden) {
			t.Errorf("%s inviting: %v", who.Email, err)
		}
		if _, err := f.svc.Users(asUser(who, "192.0.2.9"), acc.ID); !errors.Is(err, access.ErrForbidden) {
			t.Errorf("%s listing: %v", who.Email, err)
		}
	}

	// Accepting: the password rules apply, the link works once, and not for a signed-in browser.
	if _, err := f.svc.AcceptInvitation(anonymous("198.51.100.7"), token, people.AcceptInput{Password: "password", Confirm: "password"}); code(t, err) != "password:password_common" {
		t.Errorf("a common password: %s", code(t, err))
	}
	if _, err := f.svc.AcceptInvitation(anonymous("198.51.100.7"), token, people.AcceptInput{Password: "a fine long pass", Confirm: "a fine long pas"}); code(t, err) != "password_confirm:password_mismatch" {
		t.Errorf("a mismatch: %s", code(t, err))
	}
	if _, err := f.svc.AcceptInvitation(as, token, people.AcceptInput{Password: "a fine long pass", Confirm: "a fine long pass"}); !errors.Is(err, people.ErrInvitationSignedIn) {
		t.Errorf("accepting while signed in: %v", err)
	}
	u, err := f.svc.AcceptInvitation(anonymous("198.51.100.7"), token, people.AcceptInput{Password: "a fine long pass", Confirm: "a fine long pass"})
	if err != nil || u.Role != access.Viewer || u.Status != store.UserActive {
		t.Fatalf("accept: %+v %v", u, err)
	}
	if _, err := f.svc.AcceptInvitation(anonymous("198.51.100.7"), token, people.AcceptInput{Password: "another fine pass", Confirm: "another fine pass"}); !errors.Is(err, people.ErrInvitationInvalid) {
		t.Errorf("a used link: %v", err)
	}
	if _, err := f.st.Authenticate(ctx, "viewer@example.com", "another fine pass"); err == nil {
		t.Error("the second use changed the password")
	}
	late, _ := f.svc.Invite(as, acc.ID, people.InviteInput{Email: ptr("late@example.com"), Role: ptr("editor")}, "https://oi.example", "en")
	f.clock.Add(72*time.Hour + time.Second)
	lateToken := strings.TrimPrefix(late.Link, "https://oi.example/invite/")
	if _, err := f.svc.AcceptInvitation(anonymous("198.51.100.7"), lateToken, people.AcceptInput{Password: "a fine long pass", Confirm: "a fine long pass"}); !errors.Is(err, people.ErrInvitationExpired) {
		t.Errorf("an expired link: %v", err)
	}
	if _, err := f.svc.Invitation(ctx, "oiv_nothing"); !errors.Is(err, people.ErrInvitationInvalid) {
		t.Errorf("an unknown link: %v", err)
	}

	// Roles: the last owner stays; a change is audited with old and new.
	if _, err := f.svc.ChangeRole(as, acc.ID, owner.ID, people.RoleInput{Role: ptr("viewer")}); !errors.Is(err, people.ErrLastOwner) {
		t.Errorf("demoting the last owner: %v", err)
	}
	if err := f.svc.Remove(as, acc.ID, owner.ID); !errors.Is(err, people.ErrLastOwner) {
		t.Errorf("removing the last owner: %v", err)
	}
	if _, err := f.svc.ChangeRole(as, acc.ID, other.ID, people.RoleInput{Role: ptr("viewer")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's user: %v", err)
	}
	changed, err := f.svc.ChangeRole(as, acc.ID, u.ID, people.RoleInput{Role: ptr("editor")})
	if err != nil || changed.Role != access.Editor {
		t.Fatalf("change role: %+v %v", changed, err)
	}
	if err := f.svc.Remove(as, acc.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	events, _ := f.st.AuditEvents(ctx, acc.ID, 0, 100)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{audit.UserInvite, audit.UserJoin, audit.UserRole, audit.UserRemove} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit log %v has no %s", actions, want)
		}
	}
	en := locale.For("en")
	for _, e := range events {
		if e.Action == audit.UserRole {
			if got := en.Msg(e.Detail); !strings.Contains(got, "viewer") || !strings.Contains(got, "editor") || !strings.Contains(got, "viewer@example.com") {
				t.Errorf("role change detail %q", got)
			}
		}
	}
}

// Two services on one database are two serve processes: the failures one of them saw count for
// the other, on SQLite and on PostgreSQL.
func TestThrottleIsSharedThroughTheDatabase(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var a, b *store.Store
			ctx := context.Background()
			open := func(loc store.Location) *store.Store {
				st, err := store.Open(ctx, loc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			if engine == "sqlite" {
				loc := store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "t.db")}
				a, b = open(loc), open(loc)
			} else {
				url := pgtest.Schema(t)
				loc := store.Location{Engine: store.Postgres, URL: url}
				a, b = open(loc), open(loc)
			}
			if _, err := a.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			k, _ := secret.GenerateKey()
			c := &clock{now: time.Now().UTC()}
			p1, p2 := newService(a, secret.NewKeyring(k), c, nil), newService(b, secret.NewKeyring(k), c, nil)
			if _, _, err := a.AddUser(ctx, "me@example.com", "my real password", "", false); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < people.ThrottlePerEmail; i++ {
				svc := []*people.Service{p1, p2}[i%2]
				if _, err := svc.SignIn(anonymous("192.0.2.10"), "Me@Example.com", "wrong password", "/"); !errors.Is(err, people.ErrWrongCredentials) {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
			}
			_, err := p1.SignIn(anonymous("192.0.2.11"), "me@example.com", "my real password", "/")
			var te *people.ThrottledError
			if !errors.As(err, &te) || te.Wait <= 0 || te.Wait > people.ThrottleWindow {
				t.Fatalf("the right password while the limit holds: %v", err)
			}
			c.Add(people.ThrottleWindow)
			if in, err := p2.SignIn(anonymous("192.0.2.11"), "me@example.com", "my real password", "/next"); err != nil || in.Next != "/next" {
				t.Fatalf("after the window: %+v %v", in, err)
			}
			// The per-address limit counts every email tried from one address.
			for i := 0; i < people.ThrottlePerIP; i++ {
				svc := []*people.Service{p1, p2}[i%2]
				if _, err := svc.SignIn(anonymous("203.0.113.5"), "nobody"+string(rune('a'+i))+"@example.com", "x", "/"); !errors.Is(err, people.ErrWrongCredentials) {
					t.Fatalf("address attempt %d: %v", i+1, err)
				}
			}
			if _, err := p1.SignIn(anonymous("203.0.113.5"), "me@example.com", "my real password", "/"); !errors.As(err, &te) {
				t.Fatalf("the address past its limit: %v", err)
			}
			if _, err := p1.SignIn(anonymous("203.0.113.6"), "me@example.com", "my real password", "/"); err != nil {
				t.Fatalf("another address: %v", err)
			}
		})
	}
}

func TestSecondFactor(t *testing.T) {
	f := sqliteFixture(t)
	ctx := context.Background()
	u, acc, _ := f.st.AddUser(ctx, "me@example.com", "my real password", "Shop", false)
	as := asUser(u, "192.0.2.1")
	en, err := f.svc.BeginTOTP(as)
	if err != nil {
		t.Fatal(err)
	}
	if len(en.QRPNG) < 100 || !strings.HasPrefix(en.URL, "otpauth://totp/orderimport:me@example.com?") || en.Secret == "" {
		t.Fatalf("enrolment %+v", en)
	}
	now := func() string {
		c, err := totp.GenerateCode(en.Secret, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := f.svc.ConfirmTOTP(as, "000000"); code(t, err) != "code:totp_code_wrong" && now() != "000000" {
		t.Errorf("a wrong code: %s", code(t, err))
	}
	codes, err := f.svc.ConfirmTOTP(as, now())
	if err != nil || len(codes) != people.RecoveryCodes || len(codes[0]) != 19 {
		t.Fatalf("confirm: %v %v", codes, err)
	}
	// The code that confirmed cannot sign in: a code is good once.
	in, err := f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/orders")
	if err != nil || in.Challenge == "" {
		t.Fatalf("password step: %+v %v", in, err)
	}
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now()); !errors.Is(err, people.ErrWrongCode) {
		t.Errorf("the code used to confirm: %v", err)
	}
	f.clock.Add(30 * time.Second)
	done, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now())
	if err != nil || done.User.ID != u.ID || done.Next != "/orders" {
		t.Fatalf("second factor: %+v %v", done, err)
	}
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now()); !errors.Is(err, people.ErrChallengeGone) {
		t.Errorf("a completed challenge: %v", err)
	}

	// Wrong codes are throttled like passwords, and count with them: the password step cannot
	// be used to buy more guesses.
	in, _ = f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/")
	for i := 0; i < people.ThrottlePerEmail; i++ {
		if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, "12345"+string(rune('0'+i))); !errors.Is(err, people.ErrWrongCode) && now() != "12345"+string(rune('0'+i)) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	var te *people.ThrottledError
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now()); !errors.As(err, &te) {
		t.Fatalf("the right code past the limit: %v", err)
	}
	if _, err := f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/"); !errors.As(err, &te) {
		t.Fatalf("the password step past the limit: %v", err)
	}
	f.clock.Add(people.ThrottleWindow)

	// A recovery code signs in once, in any case and with or without dashes.
	in, _ = f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/")
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))); err != nil {
		t.Fatalf("a recovery code: %v", err)
	}
	in, _ = f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/")
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, codes[0]); !errors.Is(err, people.ErrWrongCode) {
		t.Errorf("a used recovery code: %v", err)
	}
	if left, _ := f.svc.RecoveryCodesLeft(as); left != people.RecoveryCodes-1 {
		t.Errorf("%d codes left", left)
	}
	// A pending sign-in ends after its time.
	f.clock.Add(people.ChallengeTTL + time.Second)
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now()); !errors.Is(err, people.ErrChallengeGone) {
		t.Errorf("an ended challenge: %v", err)
	}

	// The secret is sealed in the database; a key rotation reseals it.
	st, _ := f.st.TOTP(ctx, u.ID)
	if strings.Contains(st.Sealed, en.Secret) || !strings.HasPrefix(st.Sealed, "v1.") {
		t.Fatalf("stored secret %q", st.Sealed)
	}
	next, _ := secret.GenerateKey()
	old := f.key.Primary()
	f.svc.Secrets = secret.NewKeyring(next, old)
	rep, err := f.svc.ResealTOTP(ctx)
	if err != nil || rep.Resealed != 1 || len(rep.Failed) != 0 {
		t.Fatalf("reseal: %+v %v", rep, err)
	}
	f.svc.Secrets = secret.NewKeyring(next)
	f.clock.Add(time.Minute)
	in, _ = f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/")
	if _, err := f.svc.SecondFactor(anonymous("192.0.2.1"), in.Challenge, now()); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}

	// Turning it off needs a current code; then a password alone signs in.
	if err := f.svc.DisableTOTP(as, "nonsense"); code(t, err) != "code:totp_code_wrong" {
		t.Errorf("disable with a wrong code: %s", code(t, err))
	}
	f.clock.Add(30 * time.Second)
	if err := f.svc.DisableTOTP(as, now()); err != nil {
		t.Fatal(err)
	}
	if in, err := f.svc.SignIn(anonymous("192.0.2.1"), "me@example.com", "my real password", "/"); err != nil || in.Challenge != "" {
		t.Fatalf("after disabling: %+v %v", in, err)
	}
	events, _ := f.st.AuditEvents(ctx, acc.ID, 0, 100)
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Action] = true
	}
	for _, want := range []string{audit.TOTPEnable, audit.TOTPDisable, audit.SecondFactorFailed, audit.Login, audit.LoginThrottled} {
		if !seen[want] {
			t.Errorf("the audit log has no %s", want)
		}
	}
}

func TestChangePassword(t *testing.T) {
	f := sqliteFixture(t)
	ctx := context.Background()
	u, _, _ := f.st.AddUser(ctx, "me@example.com", "my real password", "Shop", false)
	keep, _, _ := f.st.CreateSession(ctx, u, f.clock.Now(), time.Hour, "", "")
	other, _, _ := f.st.CreateSession(ctx, u, f.clock.Now(), time.Hour, "", "")
	as := asUser(u, "192.0.2.1")
	if err := f.svc.ChangePassword(as, people.PasswordInput{Current: "not it", New: "a brand new pass", Confirm: "a brand new pass"}, ""); code(t, err) != "current_password:password_wrong" {
		t.Errorf("wrong current: %s", code(t, err))
	}
	if err := f.svc.ChangePassword(as, people.PasswordInput{Current: "my real password", New: "football", Confirm: "football"}, ""); code(t, err) != "password:password_common" {
		t.Errorf("common: %s", code(t, err))
	}
	ss, _, _ := f.st.SessionByToken(ctx, keep, f.clock.Now())
	if err := f.svc.ChangePassword(as, people.PasswordInput{Current: "my real password", New: "a brand new pass", Confirm: "a brand new pass"}, ss.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.SessionByToken(ctx, keep, f.clock.Now()); err != nil {
		t.Errorf("the session that changed it ended: %v", err)
	}
	if _, _, err := f.st.SessionByToken(ctx, other, f.clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another session survived: %v", err)
	}
	if err := f.svc.ChangePassword(context.Background(), people.PasswordInput{}, ""); !errors.Is(err, access.ErrForbidden) {
		t.Errorf("nobody changing a password: %v", err)
	}
}
