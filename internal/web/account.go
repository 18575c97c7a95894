package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"orderimport/internal/people"
	"orderimport/internal/tasks"
)

type accountData struct {
	Password   passwordForm
	TwoFactor  bool
	CodesLeft  int
	Codes      []string // recovery codes just issued: shown this once
	TOTPErrors map[string]*fieldErr
}

type passwordForm struct {
	Error  template.HTML
	Errors map[string]*fieldErr // "current_password", "password", "password_confirm"
}

// account is the visitor's own settings: password and two-factor authentication.
func (h *Web) account(w http.ResponseWriter, r *http.Request, vw *view) {
	h.renderAccount(w, r, vw, http.StatusOK, accountData{})
}

func (h *Web) renderAccount(w http.ResponseWriter, r *http.Request, vw *view, status int, d accountData) {
	if d.Password.Errors == nil {
		d.Password.Errors = map[string]*fieldErr{}
	}
	if d.TOTPErrors == nil {
		d.TOTPErrors = map[string]*fieldErr{}
	}
	u, err := h.Store.UserByID(r.Context(), vw.Visitor.User.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.TwoFactor = u.TOTPEnabled
	if d.TwoFactor {
		if d.CodesLeft, err = h.People.RecoveryCodesLeft(r.Context()); err != nil {
			h.fail(w, r, vw, err)
			return
		}
	}
	vw.Title = vw.T("account.title")
	vw.Crumbs = []crumb{{Label: vw.T("account.title")}}
	h.renderStatus(w, r, vw, status, "account.html", d)
}

// formErrors puts a use case's refusal next to its fields; anything else is not a form's.
func formErrors(vw *view, err error, into map[string]*fieldErr) bool {
	var bad *tasks.InvalidError
	if !errors.As(err, &bad) {
		return false
	}
	for _, f := range bad.Fields {
		into[f.Field] = msgErr(vw, f.Msg)
	}
	return true
}

// accountPassword changes the visitor's password; their other sessions end.
func (h *Web) accountPassword(w http.ResponseWriter, r *http.Request, vw *view) {
	err := h.People.ChangePassword(r.Context(), people.PasswordInput{Current: r.PostFormValue("current_password"),
		New: r.PostFormValue("password"), Confirm: r.PostFormValue("password_confirm")}, vw.Visitor.Session.ID)
	d := accountData{Password: passwordForm{Errors: map[string]*fieldErr{}}}
	var te *people.ThrottledError
	switch {
	case err == nil:
		redirect(w, r, "/account?done=password_set")
	case formErrors(vw, err, d.Password.Errors):
		h.renderAccount(w, r, vw, http.StatusUnprocessableEntity, d)
	case errors.As(err, &te):
		d.Password.Error = vw.Msg(te.Message())
		h.renderAccount(w, r, vw, http.StatusTooManyRequests, d)
	default:
		h.fail(w, r, vw, err)
	}
}

type enrolData struct {
	QR     template.URL // data: URL of the PNG the service made (html/template refuses data: URLs it is not told are safe)
	Secret string       // the same secret for typing in, in groups of four
	Codes  []string
	Errors map[string]*fieldErr
}

// totpEnrol sets up two-factor authentication: GET shows a new secret as a QR code, POST checks
// the app's first code, turns it on and shows the recovery codes once.
func (h *Web) totpEnrol(w http.ResponseWriter, r *http.Request, vw *view) {
	vw.Title = vw.T("twofa.enrol_title")
	vw.Crumbs = []crumb{{Label: vw.T("account.title"), Href: "/account"}, {Label: vw.T("twofa.enrol_title")}}
	d := enrolData{Errors: map[string]*fieldErr{}}
	if r.Method == http.MethodPost {
		codes, err := h.People.ConfirmTOTP(r.Context(), r.PostFormValue("code"))
		switch {
		case err == nil:
			vw.Title = vw.T("twofa.codes_title")
			h.render(w, r, vw, "account_codes.html", accountData{Codes: codes, TwoFactor: true})
			return
		case errors.Is(err, people.ErrTOTPOn):
			redirect(w, r, "/account")
			return
		case !formErrors(vw, err, d.Errors) && !errors.Is(err, people.ErrTOTPOff):
			h.fail(w, r, vw, err)
			return
		}
	}
	// A new secret every time the page is shown: the one shown last is the one confirmed.
	en, err := h.People.BeginTOTP(r.Context())
	if errors.Is(err, people.ErrTOTPOn) {
		redirect(w, r, "/account")
		return
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))
	d.Secret = groups(en.Secret, 4)
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	h.renderStatus(w, r, vw, status, "account_2fa.html", d)
}

// totpDisable turns two-factor authentication off, with a current code.
func (h *Web) totpDisable(w http.ResponseWriter, r *http.Request, vw *view) {
	err := h.People.DisableTOTP(r.Context(), r.PostFormValue("code"))
	h.totpAfter(w, r, vw, err, func() { redirect(w, r, "/account?done=totp_off") })
}

// totpRecovery issues new recovery codes, with a current code, and shows them once.
func (h *Web) totpRecovery(w http.ResponseWriter, r *http.Request, vw *view) {
	codes, err := h.People.NewRecoveryCodes(r.Context(), r.PostFormValue("code"))
	h.totpAfter(w, r, vw, err, func() {
		vw.Title = vw.T("twofa.codes_title")
		h.render(w, r, vw, "account_codes.html", accountData{Codes: codes, TwoFactor: true})
	})
}

// totpAfter answers a change of the second factor: done, or the account page with why not.
func (h *Web) totpAfter(w http.ResponseWriter, r *http.Request, vw *view, err error, done func()) {
	d := accountData{TOTPErrors: map[string]*fieldErr{}}
	var te *people.ThrottledError
	switch {
	case err == nil:
		done()
	case errors.Is(err, people.ErrTOTPOff):
		redirect(w, r, "/account")
	case formErrors(vw, err, d.TOTPErrors):
		h.renderAccount(w, r, vw, http.StatusUnprocessableEntity, d)
	case errors.As(err, &te):
		d.TOTPErrors["code"] = &fieldErr{Text: vw.Msg(te.Message())}
		h.renderAccount(w, r, vw, http.StatusTooManyRequests, d)
	default:
		h.fail(w, r, vw, err)
	}
}

// groups splits s into groups of n characters, for reading aloud and typing.
func groups(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}
