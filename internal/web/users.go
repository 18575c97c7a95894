package web

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/people"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type usersData struct {
	Users   []store.UserRow
	Roles   []access.Role
	Form    inviteForm
	Invited *people.Invited // the invitation just made: its link is shown this once
	Error   template.HTML   // a refused change (the last owner)
	Me      int64
	Expires string // the invitation link's lifetime, in the reader's words
}

type inviteForm struct {
	Email  string
	Role   string
	Errors map[string]*fieldErr
}

// users is the account's people (owners only): who has which role, pending invitations, and the
// form that invites someone.
func (h *Web) users(w http.ResponseWriter, r *http.Request, vw *view) {
	d := usersData{Roles: access.Roles, Me: vw.Visitor.User.ID, Form: inviteForm{Role: string(access.Viewer), Errors: map[string]*fieldErr{}},
		Expires: vw.p.Plural("hours", int64(people.InvitationTTL/time.Hour))}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		d.Form.Email, d.Form.Role = strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("role")
		inv, err := h.People.Invite(r.Context(), vw.Visitor.User.AccountID, people.InviteInput{Email: &d.Form.Email, Role: &d.Form.Role},
			baseURL(r), vw.Lang)
		var bad *tasks.InvalidError
		switch {
		case err == nil:
			d.Invited = &inv
			d.Form = inviteForm{Role: string(access.Viewer), Errors: map[string]*fieldErr{}}
		case errors.As(err, &bad):
			for _, f := range bad.Fields {
				d.Form.Errors[f.Field] = msgErr(vw, f.Msg)
			}
			status = http.StatusUnprocessableEntity
		case errors.Is(err, people.ErrEmailTaken):
			d.Form.Errors["email"] = msgErr(vw, people.ErrEmailTaken.Msg)
			status = http.StatusConflict
		default:
			h.fail(w, r, vw, err)
			return
		}
	}
	h.renderUsers(w, r, vw, status, d)
}

func (h *Web) renderUsers(w http.ResponseWriter, r *http.Request, vw *view, status int, d usersData) {
	rows, err := h.People.Users(r.Context(), vw.Visitor.User.AccountID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.Users = rows
	vw.Title = vw.T("users.title")
	vw.Crumbs = []crumb{{Label: vw.T("users.title")}}
	h.renderStatus(w, r, vw, status, "users.html", d)
}

// userRole changes a user's role from the list.
func (h *Web) userRole(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	role := r.PostFormValue("role")
	_, err = h.People.ChangeRole(r.Context(), vw.Visitor.User.AccountID, id, people.RoleInput{Role: &role})
	if h.userChangeRefused(w, r, vw, err) {
		return
	}
	redirect(w, r, "/users?done=role_changed")
}

// userChangeRefused shows the list again with why a change was refused, and reports whether it
// was.
func (h *Web) userChangeRefused(w http.ResponseWriter, r *http.Request, vw *view, err error) bool {
	d := usersData{Roles: access.Roles, Me: vw.Visitor.User.ID, Form: inviteForm{Role: string(access.Viewer), Errors: map[string]*fieldErr{}},
		Expires: vw.p.Plural("hours", int64(people.InvitationTTL/time.Hour))}
	var bad *tasks.InvalidError
	switch {
	case err == nil:
		return false
	case errors.Is(err, people.ErrLastOwner):
		d.Error = vw.Msg(people.ErrLastOwner.Msg)
		h.renderUsers(w, r, vw, http.StatusConflict, d)
	case errors.As(err, &bad):
		d.Error = vw.Msg(bad.First().Msg)
		h.renderUsers(w, r, vw, http.StatusUnprocessableEntity, d)
	default:
		h.fail(w, r, vw, err)
	}
	return true
}

type removeData struct {
	User store.User
	Self bool
}

// userRemove asks for a confirmation (GET) and removes the user (POST): their sessions and API
// tokens end at once. Removing oneself ends this session too.
func (h *Web) userRemove(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	acc := vw.Visitor.User.AccountID
	if r.Method == http.MethodGet {
		u, err := h.People.User(r.Context(), acc, id)
		if err != nil {
			h.fail(w, r, vw, err)
			return
		}
		vw.Title = vw.T("users.remove_title", u.Email)
		vw.Crumbs = []crumb{{Label: vw.T("users.title"), Href: "/users"}, {Label: vw.T("users.remove")}}
		h.render(w, r, vw, "user_remove.html", removeData{User: u, Self: u.ID == vw.Visitor.User.ID})
		return
	}
	if h.userChangeRefused(w, r, vw, h.People.Remove(r.Context(), acc, id)) {
		return
	}
	if id == vw.Visitor.User.ID {
		redirect(w, r, "/login")
		return
	}
	redirect(w, r, "/users?done=user_removed")
}

// baseURL is the service's address as the browser reached it, for the links it hands out.
func baseURL(r *http.Request) string {
	scheme := "http"
	if isTLS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
