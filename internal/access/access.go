// Package access is the role model of the service: the one place that says what each role of
// an account may do. A user has one role in their account; an API token acts with its user's
// role. The use cases (internal/tasks, internal/people) call Require with the permission of the
// action before doing it, so the JSON API and the web UI enforce the same rules; the web UI also
// asks Can to hide what the visitor's role cannot do.
//
// Deny by default: a context that carries no principal may do nothing. Requests get theirs from
// the adapters' authentication; the command line, the demo and tests act as System.
package access

import (
	"context"
	"fmt"

	"orderimport/internal/locale"
)

// Role is what a user may do in their account.
type Role string

// The roles, most powerful first.
const (
	// Owner does everything, users and the account's RetailCRM keys included.
	Owner Role = "owner"
	// Editor works with counters, import tasks (not their keys), runs, mappings and webhooks.
	Editor Role = "editor"
	// Viewer reads: counters, tasks, runs and orders.
	Viewer Role = "viewer"
)

// Roles lists the roles, most powerful first (forms offer them in this order).
var Roles = []Role{Owner, Editor, Viewer}

// ParseRole reads a role's name; anything else is not a role.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Permission is an action, or a kind of action, that a role may or may not take.
type Permission string

// The permissions. Each use case requires one (or two) of them before it acts.
const (
	// Read: counters, import tasks, runs, orders and their summaries, the field list.
	Read Permission = "read"
	// EditCounters: create counters.
	EditCounters Permission = "counters.edit"
	// EditTasks: change, pause, run, re-sync and delete import tasks, their mappings, trigger URLs,
	// webhooks and the account's alert channels; preview and check with a task's stored key.
	EditTasks Permission = "tasks.edit"
	// SetKeys: give the service a RetailCRM key or point a task at another RetailCRM (a new
	// connection, a replaced key or URL), and check a typed key.
	SetKeys Permission = "keys.set"
	// ManageUsers: list, invite, change the role of and remove the account's users.
	ManageUsers Permission = "users.manage"
	// ReadAudit: read the account's audit log (who did what, from which address).
	ReadAudit Permission = "audit.read"
)

// Permissions lists every permission (tests walk them).
var Permissions = []Permission{Read, EditCounters, EditTasks, SetKeys, ManageUsers, ReadAudit}

// grants is the role model: what each role may do.
var grants = map[Role]map[Permission]bool{
	Owner:  {Read: true, EditCounters: true, EditTasks: true, SetKeys: true, ManageUsers: true, ReadAudit: true},
	Editor: {Read: true, EditCounters: true, EditTasks: true},
	Viewer: {Read: true},
}

// ParsePermission reads a permission's name (the UI's templates name them as text).
func ParsePermission(s string) (Permission, error) {
	for _, p := range Permissions {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("access: %q is not a permission", s)
}

// Can reports whether the role may take the action.
func (r Role) Can(p Permission) bool { return grants[r][p] }

// Principal is who acts: a user of an account with a role, or the System.
type Principal struct {
	UserID    int64
	AccountID int64
	Role      Role
	system    bool
}

// Can reports whether the principal may take the action: the System may do anything.
func (p Principal) Can(perm Permission) bool { return p.system || p.Role.Can(perm) }

// IsSystem reports the System principal.
func (p Principal) IsSystem() bool { return p.system }

type principalKey struct{}

// With returns ctx carrying the principal of a user.
func With(ctx context.Context, userID, accountID int64, role Role) context.Context {
	return context.WithValue(ctx, principalKey{}, Principal{UserID: userID, AccountID: accountID, Role: role})
}

// System returns ctx acting as the System: the operator at the command line, the demo's setup,
// tests. No request ever gets it: the adapters give every request its user's principal.
func System(ctx context.Context) context.Context {
	return context.WithValue(ctx, principalKey{}, Principal{system: true})
}

// From is the principal ctx carries, if any.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ErrForbidden is an action the principal's role may not take: 403 in the API, a page that
// says so in the UI.
var ErrForbidden = locale.Err("forbidden")

// Require returns ErrForbidden unless ctx's principal may take every one of the actions in the
// account: a user of another account, a role without the permission and a context without a
// principal are all refused.
func Require(ctx context.Context, accountID int64, perms ...Permission) error {
	p, ok := From(ctx)
	if !ok {
		return ErrForbidden
	}
	if p.system {
		return nil
	}
	if p.AccountID != accountID {
		return ErrForbidden
	}
	for _, perm := range perms {
		if !p.Role.Can(perm) {
			return ErrForbidden
		}
	}
	return nil
}
