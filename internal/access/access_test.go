package access

import (
	"context"
	"errors"
	"testing"
)

// The role model as a table: every role against every permission.
func TestRoleModel(t *testing.T) {
	want := map[Role][]Permission{
		Owner:  {Read, EditCounters, EditTasks, SetKeys, ManageUsers, ReadAudit},
		Editor: {Read, EditCounters, EditTasks},
		Viewer: {Read},
	}
	for _, r := range Roles {
		granted := map[Permission]bool{}
		for _, p := range want[r] {
			granted[p] = true
		}
		for _, p := range Permissions {
			if got := r.Can(p); got != granted[p] {
				t.Errorf("%s can %s: %v, want %v", r, p, got, granted[p])
			}
		}
	}
	if Role("admin").Can(Read) {
		t.Error("an unknown role may read")
	}
}

func TestRequire(t *testing.T) {
	ctx := context.Background()
	if err := Require(ctx, 1, Read); !errors.Is(err, ErrForbidden) {
		t.Errorf("no principal: %v, want forbidden", err)
	}
	owner := With(ctx, 7, 1, Owner)
	if err := Require(owner, 1, EditTasks, SetKeys); err != nil {
		t.Errorf("owner: %v", err)
	}
	if err := Require(owner, 2, Read); !errors.Is(err, ErrForbidden) {
		t.Errorf("another account: %v, want forbidden", err)
	}
	editor := With(ctx, 8, 1, Editor)
	if err := Require(editor, 1, EditTasks, SetKeys); !errors.Is(err, ErrForbidden) {
		t.Errorf("editor setting a key: %v, want forbidden", err)
	}
	viewer := With(ctx, 9, 1, Viewer)
	if err := Require(viewer, 1, Read); err != nil {
		t.Errorf("viewer reading: %v", err)
	}
	if err := Require(System(ctx), 42, ManageUsers, SetKeys); err != nil {
		t.Errorf("system: %v", err)
	}
	if _, err := ParsePermission("tasks.edit"); err != nil {
		t.Error(err)
	}
	if _, err := ParsePermission("tasks.delete"); err == nil {
		t.Error("an unknown permission parsed")
	}
	if r, ok := ParseRole("viewer"); !ok || r != Viewer {
		t.Errorf("ParseRole(viewer) = %q, %v", r, ok)
	}
	if _, ok := ParseRole("Owner"); ok {
		t.Error("roles are lower-case names")
	}
}
