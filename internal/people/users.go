package people

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	netmail "net/mail"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/mail"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// Errors of user management and invitations.
var (
	// ErrEmailTaken: the email belongs to a user already (a conflict).
	ErrEmailTaken = locale.Err("email_taken")
	// ErrLastOwner: the change would leave the account without an active owner (a conflict).
	ErrLastOwner = locale.Err("last_owner")
	// ErrInvitationInvalid: no such link, or it was used already.
	ErrInvitationInvalid = locale.Err("invitation_invalid")
	// ErrInvitationExpired: the link is older than InvitationTTL.
	ErrInvitationExpired = locale.Err("invitation_expired")
	// ErrInvitationSignedIn: the browser is signed in as someone: an invitation is for a new user.
	ErrInvitationSignedIn = locale.Err("invitation_signed_in")
)

// IsConflict reports an error the API answers with 409.
func IsConflict(err error) bool {
	return errors.Is(err, ErrEmailTaken) || errors.Is(err, ErrLastOwner)
}

// maxEmailLen is the longest address SMTP carries (RFC 5321 path limit).
const maxEmailLen = 254

// Users lists the account's users, invited ones included.
func (s *Service) Users(ctx context.Context, accountID int64) ([]store.UserRow, error) {
	if err := access.Require(ctx, accountID, access.ManageUsers); err != nil {
		return nil, err
	}
	return s.Store.Users(ctx, accountID)
}

// User is one of the account's users.
func (s *Service) User(ctx context.Context, accountID, userID int64) (store.User, error) {
	if err := access.Require(ctx, accountID, access.ManageUsers); err != nil {
		return store.User{}, err
	}
	return s.Store.AccountUser(ctx, accountID, userID)
}

// InviteInput is an invitation as a person sends it.
type InviteInput struct {
	Email *string `json:"email"`
	Role  *string `json:"role"`
}

// Invited is the outcome of an invitation: the invited user and the link, shown once.
type Invited struct {
	User      store.User
	Link      string
	ExpiresAt time.Time
	Emailed   bool // the link went to the invited person by email too
}

// checkRole reads a role; required says whether an absent one is an error or the default.
func checkRole(in *string, required bool, bad *[]tasks.FieldError) (access.Role, bool) {
	if in == nil || strings.TrimSpace(*in) == "" {
		if required {
			*bad = append(*bad, tasks.FieldError{Field: "role", Msg: locale.M("role_invalid")})
			return "", false
		}
		return access.Viewer, true
	}
	r, ok := access.ParseRole(strings.TrimSpace(*in))
	if !ok {
		*bad = append(*bad, tasks.FieldError{Field: "role", Msg: locale.M("role_invalid")})
	}
	return r, ok
}

// checkEmail reads an email address: one address, no name, at most maxEmailLen characters.
func checkEmail(in *string, bad *[]tasks.FieldError) (string, bool) {
	v := ""
	if in != nil {
		v = strings.TrimSpace(*in)
	}
	if v == "" {
		*bad = append(*bad, tasks.FieldError{Field: "email", Msg: locale.M("email_required")})
		return "", false
	}
	a, err := netmail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || len(v) > maxEmailLen || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
		*bad = append(*bad, tasks.FieldError{Field: "email", Msg: locale.M("user_email_invalid")})
		return "", false
	}
	return store.NormalizeEmail(v), true
}

// Invite invites a person into the account with a role (viewer when none is given): it makes a
// one-time link valid InvitationTTL, under which base the web UI serves it ("https://host"),
// emails it when mail is set up (in lang, the inviting owner's language) and returns it to show
// once. Inviting an email the account invited before renews the link.
func (s *Service) Invite(ctx context.Context, accountID int64, in InviteInput, base, lang string) (Invited, error) {
	if err := access.Require(ctx, accountID, access.ManageUsers); err != nil {
		return Invited{}, err
	}
	var bad []tasks.FieldError
	email, _ := checkEmail(in.Email, &bad)
	role, _ := checkRole(in.Role, false, &bad)
	if len(bad) > 0 {
		return Invited{}, &tasks.InvalidError{Fields: bad}
	}
	token, err := randomToken("oiv_")
	if err != nil {
		return Invited{}, err
	}
	inviter := actorOf(ctx, store.User{})
	expires := s.now().Add(InvitationTTL)
	u, err := s.Store.Invite(ctx, accountID, email, role, token, inviter.UserID, expires)
	if errors.Is(err, store.ErrConflict) {
		return Invited{}, ErrEmailTaken
	}
	if err != nil {
		return Invited{}, err
	}
	out := Invited{User: u, Link: strings.TrimRight(base, "/") + "/invite/" + token, ExpiresAt: expires}
	if s.Mailer != nil {
		if err := s.mailInvitation(ctx, accountID, out, inviter.Email, lang); err != nil {
			// The owner has the link on screen and can pass it on; the operator learns why
			// the mail did not go.
			s.log().Warn("invitation email not sent", "user_id", u.ID, "error", err)
		} else {
			out.Emailed = true
		}
	}
	s.Audit.Record(ctx, accountID, audit.UserInvite, userTarget(u.ID),
		locale.M("audit_user_invited", "email", u.Email, "role", RoleName(role), "hours", int(InvitationTTL.Hours())))
	return out, nil
}

// RoleName is a role's name as a message, rendered in the reader's language.
func RoleName(r access.Role) locale.Message {
	switch r {
	case access.Owner:
		return locale.M("role_owner")
	case access.Editor:
		return locale.M("role_editor")
	}
	return locale.M("role_viewer")
}

var inviteHTML = template.Must(template.New("invite").Parse(`<!doctype html>
<html lang="{{.Lang}}"><body style="font-family:sans-serif;line-height:1.5">
<p>{{.Text}}</p>
<p><a href="{{.Link}}">{{.Link}}</a></p>
<p style="color:#555">{{.Note}}</p>
</body></html>`))

func (s *Service) mailInvitation(ctx context.Context, accountID int64, inv Invited, inviter, lang string) error {
	acc, err := s.Store.AccountName(ctx, accountID)
	if err != nil {
		return err
	}
	p := locale.For(lang)
	text := p.Msg(locale.M("mail_invite_text", "inviter", inviter, "account", acc, "role", RoleName(inv.User.Role)))
	note := p.Msg(locale.M("mail_invite_note", "hours", int(InvitationTTL.Hours())))
	var html bytes.Buffer
	if err := inviteHTML.Execute(&html, map[string]string{"Lang": p.Lang(), "Text": text, "Link": inv.Link, "Note": note}); err != nil {
		return fmt.Errorf("people: invitation email: %w", err)
	}
	return s.Mailer.Send(ctx, mail.Message{To: []string{inv.User.Email},
		Subject: p.Msg(locale.M("mail_invite_subject", "account", acc)),
		Text:    text + "\n\n" + inv.Link + "\n\n" + note + "\n", HTML: html.String()})
}

// RoleInput is a change of a user's role.
type RoleInput struct {
	Role *string `json:"role"`
}

// ChangeRole sets a user's role; the account's last active owner keeps theirs (ErrLastOwner).
// The change applies to the user's sessions and tokens at their next request.
func (s *Service) ChangeRole(ctx context.Context, accountID, userID int64, in RoleInput) (store.User, error) {
	if err := access.Require(ctx, accountID, access.ManageUsers); err != nil {
		return store.User{}, err
	}
	var bad []tasks.FieldError
	role, _ := checkRole(in.Role, true, &bad)
	if len(bad) > 0 {
		return store.User{}, &tasks.InvalidError{Fields: bad}
	}
	before, err := s.Store.SetRole(ctx, accountID, userID, role)
	if errors.Is(err, store.ErrLastOwner) {
		return store.User{}, ErrLastOwner
	}
	if err != nil {
		return store.User{}, err
	}
	if before.Role != role {
		s.Audit.Record(ctx, accountID, audit.UserRole, userTarget(userID),
			locale.M("audit_user_role", "email", before.Email, "old", RoleName(before.Role), "new", RoleName(role)))
	}
	after := before
	after.Role = role
	return after, nil
}

// Remove deletes a user from the account: their sessions and API tokens end at once. The last
// active owner stays (ErrLastOwner).
func (s *Service) Remove(ctx context.Context, accountID, userID int64) error {
	if err := access.Require(ctx, accountID, access.ManageUsers); err != nil {
		return err
	}
	u, err := s.Store.RemoveUser(ctx, accountID, userID)
	if errors.Is(err, store.ErrLastOwner) {
		return ErrLastOwner
	}
	if err != nil {
		return err
	}
	s.Audit.Record(ctx, accountID, audit.UserRemove, userTarget(userID),
		locale.M("audit_user_removed", "email", u.Email, "role", RoleName(u.Role)))
	return nil
}

// Invitation looks an invitation link up for its page: a link that is unknown or used is
// ErrInvitationInvalid, an old one ErrInvitationExpired, and a signed-in browser (ctx has a
// principal) may not use one: ErrInvitationSignedIn.
func (s *Service) Invitation(ctx context.Context, token string) (store.Invitation, error) {
	if _, signedIn := access.From(ctx); signedIn {
		return store.Invitation{}, ErrInvitationSignedIn
	}
	inv, err := s.Store.InvitationByToken(ctx, token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Invitation{}, ErrInvitationInvalid
	case err != nil:
		return store.Invitation{}, err
	case inv.UsedAt != nil:
		return store.Invitation{}, ErrInvitationInvalid
	case !s.now().Before(inv.ExpiresAt):
		return store.Invitation{}, ErrInvitationExpired
	}
	return inv, nil
}

// AcceptInput is the invited person's new password, typed twice.
type AcceptInput struct {
	Password string
	Confirm  string
}

// AcceptInvitation sets the invited user's password and makes them active, once; the caller
// then signs them in. Nothing happens for a used, expired or unknown link, nor while the browser
// is signed in as a user (the invitation is someone else's).
func (s *Service) AcceptInvitation(ctx context.Context, token string, in AcceptInput) (store.User, error) {
	inv, err := s.Invitation(ctx, token)
	if err != nil {
		return store.User{}, err
	}
	hash, err := newPassword(inv.Email, in.Password, in.Confirm)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.Store.AcceptInvitation(ctx, token, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		// Used or expired in the meantime: the page says which.
		if _, err := s.Invitation(ctx, token); err != nil {
			return store.User{}, err
		}
		return store.User{}, ErrInvitationInvalid
	}
	if err != nil {
		return store.User{}, err
	}
	s.Audit.RecordAs(ctx, actorOf(ctx, u), u.AccountID, audit.UserJoin, userTarget(u.ID),
		locale.M("audit_user_joined", "email", u.Email, "role", RoleName(u.Role)))
	return u, nil
}

// PasswordInput is a change of one's own password.
type PasswordInput struct {
	Current string
	New     string
	Confirm string
}

// ChangePassword sets the signed-in user's new password after checking the current one (the
// check is throttled like a sign-in); every other session of theirs ends, the one whose id is
// keep stays.
func (s *Service) ChangePassword(ctx context.Context, in PasswordInput, keep string) error {
	p, ok := access.From(ctx)
	if !ok || p.IsSystem() {
		return access.ErrForbidden
	}
	u, err := s.Store.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	keys := map[string]int{s.throttleKey("email", u.Email): ThrottlePerEmail}
	if wait, err := s.throttled(ctx, keys); err != nil {
		return err
	} else if wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	old, err := s.Store.PasswordHash(ctx, u.ID)
	if err != nil {
		return err
	}
	if !store.CheckPassword(old, in.Current) {
		if err := s.failed(ctx, keys); err != nil {
			return err
		}
		return invalid("current_password", locale.M("password_wrong"))
	}
	hash, err := newPassword(u.Email, in.New, in.Confirm)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, u.ID, hash, keep); err != nil {
		return err
	}
	s.Audit.Record(ctx, u.AccountID, audit.PasswordChange, userTarget(u.ID), locale.M("audit_password_changed"))
	return nil
}

// AuditEvents is the account's audit log, newest first (owners only: it holds everyone's
// addresses).
func (s *Service) AuditEvents(ctx context.Context, accountID, before int64, limit int) ([]store.AuditEvent, error) {
	if err := access.Require(ctx, accountID, access.ReadAudit); err != nil {
		return nil, err
	}
	return s.Store.AuditEvents(ctx, accountID, before, limit)
}
