package api

import (
	"net/http"
	"strings"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
)

// userJSON is a user of the account as its owners see it.
type userJSON struct {
	ID              int64      `json:"id"`
	Email           string     `json:"email"`
	Role            string     `json:"role"`
	Status          string     `json:"status"`
	TwoFactor       bool       `json:"two_factor"`
	CreatedAt       time.Time  `json:"created_at"`
	InviteExpiresAt *time.Time `json:"invite_expires_at,omitempty"`
}

func userOut(u store.User, expires *time.Time) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: string(u.Role), Status: u.Status, TwoFactor: u.TOTPEnabled,
		CreatedAt: u.CreatedAt, InviteExpiresAt: expires}
}

// invitedJSON is the answer of an invitation: the invited user, and the link, shown this once.
type invitedJSON struct {
	userJSON
	InviteURL     string `json:"invite_url"`
	InviteEmailed bool   `json:"invite_emailed"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	rows, err := a.People.Users(r.Context(), userFrom(r.Context()).AccountID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(rows))
	for _, u := range rows {
		out = append(out, userOut(u.User, u.InviteExpiresAt))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

// inviteUser invites a person: 201 with the one-time link (also emailed when mail is set up).
func (a *API) inviteUser(w http.ResponseWriter, r *http.Request) {
	var in people.InviteInput
	if !decode(w, r, &in) {
		return
	}
	inv, err := a.People.Invite(r.Context(), userFrom(r.Context()).AccountID, in, baseURL(r),
		locale.FromAcceptLanguage(r.Header.Get("Accept-Language")))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, invitedJSON{userJSON: userOut(inv.User, &inv.ExpiresAt), InviteURL: inv.Link, InviteEmailed: inv.Emailed})
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in people.RoleInput
	if !decode(w, r, &in) {
		return
	}
	u, err := a.People.ChangeRole(r.Context(), userFrom(r.Context()).AccountID, id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userOut(u, nil))
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.People.Remove(r.Context(), userFrom(r.Context()).AccountID, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// baseURL is the service's address as the caller reached it, for the links it hands out: https
// when the request came over TLS (here or at the proxy in front), the Host it named.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
