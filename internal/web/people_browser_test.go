package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/web/uitest"
)

// present counts the elements a CSS selector finds on the page.
func present(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	must(t, err, "count "+sel)
	return n
}

// The owner invites a colleague as a viewer from the People page; the colleague opens the link,
// sets a password, lands signed in, and sees the account's data with no control that changes
// anything: no new counter, no new connection, no run, edit, pause, re-sync or delete, no people
// or activity log.
func TestBrowserInviteAViewer(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnv(t, 20)
	s := e.srv
	c := e.counter("Магазин")
	task := e.task(c, "Заказы")

	must(t, chromedp.Do(ctx, s.Login(),
		uitest.Submit(chromedp.CSS(`a[href="/users"]`)),
		chromedp.WaitVisible(chromedp.ID("invite-email")),
		chromedp.SendKeys(chromedp.ID("invite-email"), "analyst@example.com"),
		chromedp.SetValue(chromedp.ID("invite-role"), "viewer"),
		uitest.Submit(chromedp.CSS(`form[action="/users"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("invite-link")),
	), "invite")
	link, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("invite-link")))
	must(t, err, "read the link")
	if !strings.HasPrefix(link, s.URL+"/invite/oiv_") {
		t.Fatalf("invitation link %q", link)
	}
	if got := textOf(t, ctx, "#users"); !strings.Contains(got, "analyst@example.com") || !strings.Contains(got, "Приглашён") {
		t.Fatalf("the list after the invitation: %q", got)
	}

	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), "qwertyuiop"),
		chromedp.SendKeys(chromedp.ID("password_confirm"), "qwertyuiop"),
		uitest.Submit(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password-err")),
	), "a common password")
	if got := textOf(t, ctx, "#password-err"); !strings.Contains(got, "среди самых распространённых") {
		t.Fatalf("common password: %q", got)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), "аналитик читает заказы"),
		chromedp.SendKeys(chromedp.ID("password_confirm"), "аналитик читает заказы"),
		uitest.Submit(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	), "set the password")
	if got := textOf(t, ctx, ".notice"); !strings.Contains(got, "Пароль задан") {
		t.Fatalf("after accepting: %q", got)
	}
	u, err := s.App.Store.UserByEmail(context.Background(), "analyst@example.com")
	if err != nil || u.Role != access.Viewer || u.Status != store.UserActive {
		t.Fatalf("the new user: %+v %v", u, err)
	}

	// Signed in as the viewer (log out and in again, as a person would the next day).
	cid, tid := strconv.FormatInt(c.ID, 10), strconv.FormatInt(task.ID, 10)
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "analyst@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "аналитик читает заказы"),
		uitest.Submit(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".counter-card")),
	), "sign in as the viewer")
	for page, controls := range map[string][]string{
		"/":                             {`form[action="/counters"]`, `a[href="/users"]`, `a[href="/audit"]`},
		"/counters/" + cid + "/imports": {`a[href$="/imports/new"]`, `form[action$="/run"]`, `a[href$="/edit"]`, `form[action$="/active"]`},
		"/imports/" + tid:               {`a[href$="/edit"]`, `form[action$="/run"]`, `form[action$="/resync"]`, `a[href$="/delete"]`, `form[action$="/active"]`},
	} {
		must(t, chromedp.Do(ctx, chromedp.Navigate(s.URL+page), chromedp.WaitVisible(chromedp.ID("main"))), "open "+page)
		for _, sel := range controls {
			if n := present(t, ctx, sel); n != 0 {
				t.Errorf("the viewer sees %d of %s on %s", n, sel, page)
			}
		}
	}
	// Asking for an edit page anyway is a clear refusal.
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.URL+"/imports/"+tid+"/edit"), chromedp.WaitVisible(chromedp.CSS("h1"))), "open the edit page")
	if got := textOf(t, ctx, "h1"); got != "Вашей роли это недоступно" {
		t.Errorf("the edit page as a viewer: %q", got)
	}
}

// Single sign-on in a browser: the login page's "Войти через …" goes to the provider running in
// the test, which sends the browser back signed in.
func TestBrowserSingleSignOn(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	m, err := mockoidc.Run()
	must(t, err, "start the provider")
	t.Cleanup(func() { _ = m.Shutdown() })
	s, err := uitest.StartWith(context.Background(), t.TempDir(), crmemu.Options{Seed: 2, Orders: 5}, nil, func(cfg *config.Config, url string) {
		cfg.OIDC = config.OIDC{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: url + "/auth/oidc/callback", Name: "Яндекс ID"}
	})
	must(t, err, "start")
	t.Cleanup(func() { s.Close() })
	m.QueueUser(&mockoidc.MockUser{Subject: "ya-1", Email: uitest.Email, EmailVerified: true})

	must(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("sso-start")),
	), "open the login page")
	if got := textOf(t, ctx, "#sso-start"); got != "Войти через Яндекс ID" {
		t.Fatalf("the button says %q", got)
	}
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.ID("sso-start")),
		chromedp.WaitVisible(chromedp.CSS(`a.who[href="/account"]`)),
	), "sign in through the provider")
	if got := textOf(t, ctx, "a.who"); got != uitest.Email {
		t.Fatalf("signed in as %q", got)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+"/" {
		t.Errorf("after single sign-on the browser is at %s, want the counters page", loc)
	}
}

// Two-factor authentication in a browser: enrol with the QR code (the test's "app" reads the
// secret shown next to it), keep the recovery codes, then sign in with a password and a code.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnv(t, 0)
	s := e.srv

	must(t, chromedp.Do(ctx, s.Login(),
		uitest.Submit(chromedp.CSS(`a.who[href="/account"]`)),
		uitest.Submit(chromedp.ID("twofa-enrol")),
		chromedp.WaitVisible(chromedp.ID("twofa-qr")),
	), "open the enrolment")
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const i = document.getElementById("twofa-qr"); return i.complete && i.naturalWidth >= 200; })()`,
		chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	must(t, err, "the QR code image must load (the page's CSP allows data: images)")
	secret := strings.ReplaceAll(textOf(t, ctx, "#twofa-secret"), " ", "")
	code, err := totp.GenerateCode(secret, time.Now())
	must(t, err, "the app's code")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		uitest.Submit(chromedp.CSS(`form[action="/account/2fa"] button`)),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	), "confirm the first code")
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
	must(t, err, "count the recovery codes")
	if codes != 10 {
		t.Fatalf("%d recovery codes shown", codes)
	}
	u, _ := s.App.Store.UserByID(context.Background(), s.UserID)
	if !u.TOTPEnabled {
		t.Fatal("two-factor authentication is not on")
	}

	// The next sign-in asks for the code after the password. The code of this 30-second step
	// was spent on the enrolment; the app's next one is accepted already (one step of skew).
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	must(t, err, "the next code")
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`a[href="/account"]`)),
		uitest.Submit(chromedp.CSS(`form[action="/logout"] button`)),
		s.Login(),
		chromedp.WaitVisible(chromedp.ID("code")),
	), "sign in with the password")
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login/2fa") {
		t.Fatalf("after the password the browser is at %s", loc)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), "000000"),
		uitest.Submit(chromedp.CSS(`form[action="/login/2fa"] button`)),
		chromedp.WaitVisible(chromedp.ID("code-form-err")),
	), "a wrong code")
	if code == "000000" || next == "000000" {
		t.Skip("the app's code happens to be 000000")
	}
	if got := textOf(t, ctx, "#code-form-err"); !strings.Contains(got, "Неверный код") {
		t.Fatalf("wrong code: %q", got)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), next),
		uitest.Submit(chromedp.CSS(`form[action="/login/2fa"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a.who[href="/account"]`)),
	), "the second step")
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+"/" {
		t.Errorf("signed in at %s", loc)
	}
}
