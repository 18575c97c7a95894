package web

import (
	"errors"
	"net/http"

	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type inviteData struct {
	Invitation store.Invitation
	Errors     map[string]*fieldErr // "password", "password_confirm"
}

// invitation is the page of a one-time invitation link: the invited person sets a password and is
// signed in. A used, replaced, expired or unknown link — or a browser signed in as someone —
// gets a page that says so, and nothing is created.
func (h *Web) invitation(w http.ResponseWriter, r *http.Request) {
	v, err := h.lookup(r)
	if err != nil {
		h.fail(w, r, h.newView(w, r, nil), err)
		return
	}
	vw := h.newView(w, r, v)
	token := r.PathValue("token")
	// A request with a session acts as its user: the use case refuses invitations to them.
	ctx := r.Context()
	if v != nil {
		ctx = people.Principal(ctx, v.User)
	}
	if r.Method == http.MethodPost && v != nil && !v.csrfOK(r.PostFormValue(csrfField)) {
		h.renderStatus(w, r, vw, http.StatusForbidden, "error.html", errorPage{Title: "error.csrf.title", Text: "error.csrf.text"})
		return
	}
	inv, err := h.People.Invitation(ctx, token)
	if err != nil {
		h.invitationRefused(w, r, vw, err)
		return
	}
	vw.Title = vw.T("invite.title")
	d := inviteData{Invitation: inv, Errors: map[string]*fieldErr{}}
	if r.Method == http.MethodGet {
		h.render(w, r, vw, "invite.html", d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	r = anonymousCtx(r)
	u, err := h.People.AcceptInvitation(r.Context(), token, people.AcceptInput{Password: r.PostFormValue("password"), Confirm: r.PostFormValue("password_confirm")})
	var inv2 *tasks.InvalidError
	switch {
	case errors.As(err, &inv2):
		for _, f := range inv2.Fields {
			d.Errors[f.Field] = msgErr(vw, f.Msg)
		}
		h.renderStatus(w, r, vw, http.StatusUnprocessableEntity, "invite.html", d)
		return
	case err != nil:
		h.invitationRefused(w, r, vw, err)
		return
	}
	if err := h.startSession(w, r, u); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/?done=welcome")
}

// invitationRefused is the page of a link that does not work: 410 for a used or expired one,
// 404 for one that never was, 409 for a browser signed in as someone.
func (h *Web) invitationRefused(w http.ResponseWriter, r *http.Request, vw *view, err error) {
	status := 0
	switch {
	case errors.Is(err, people.ErrInvitationExpired), errors.Is(err, people.ErrInvitationInvalid):
		status = http.StatusGone
	case errors.Is(err, people.ErrInvitationSignedIn):
		status = http.StatusConflict
	default:
		h.fail(w, r, vw, err)
		return
	}
	msg, _ := locale.MessageOf(err)
	h.renderStatus(w, r, vw, status, "error.html", errorPage{Title: "invite.refused.title", Message: vw.Msg(msg)})
}
