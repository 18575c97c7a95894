package tasks

import (
	"context"
	"slices"

	"orderimport/internal/access"
	"orderimport/internal/store"
)

// Names names the RetailCRM codes of a counter's orders (statuses, status groups, stores) from
// the references its tasks kept: the order's own task's first, then the others' (tasks of one
// counter mostly read one account). A code no reference names has no name ("").
type Names struct {
	refs  map[int64]store.Reference
	tasks []int64
}

// Names loads the names of a counter's orders.
func (s *Service) Names(ctx context.Context, accountID, counterID int64) (*Names, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return nil, err
	}
	refs, err := s.Store.CounterReferences(ctx, accountID, counterID)
	if err != nil {
		return nil, err
	}
	n := &Names{refs: refs}
	for id := range refs {
		n.tasks = append(n.tasks, id)
	}
	slices.Sort(n.tasks)
	return n, nil
}

// NamesOf names codes from one reference (a preview's, read for it).
func NamesOf(ref *store.Reference) *Names {
	return &Names{refs: map[int64]store.Reference{0: *ref}, tasks: []int64{0}}
}

// find looks a code up in the task's reference, then in the others'.
func (n *Names) find(taskID int64, look func(*store.Reference) (string, bool)) string {
	if n == nil {
		return ""
	}
	if r, ok := n.refs[taskID]; ok {
		if v, ok := look(&r); ok {
			return v
		}
	}
	for _, id := range n.tasks {
		if id == taskID {
			continue
		}
		r := n.refs[id]
		if v, ok := look(&r); ok {
			return v
		}
	}
	return ""
}

// Status is a status's name (taskID 0: any task's).
func (n *Names) Status(taskID int64, code string) string {
	return n.find(taskID, func(r *store.Reference) (string, bool) {
		s, ok := r.Status(code)
		return s.Name, ok && s.Name != ""
	})
}

// StatusGroup is the group a status is in (taskID 0: any task's).
func (n *Names) StatusGroup(taskID int64, code string) string {
	return n.find(taskID, func(r *store.Reference) (string, bool) {
		s, ok := r.Status(code)
		return s.Group, ok && s.Group != ""
	})
}

// Group is a status group's name.
func (n *Names) Group(taskID int64, code string) string {
	return n.find(taskID, func(r *store.Reference) (string, bool) {
		g, ok := r.Group(code)
		return g.Name, ok && g.Name != ""
	})
}

// Site is a store's name.
func (n *Names) Site(taskID int64, code string) string {
	return n.find(taskID, func(r *store.Reference) (string, bool) {
		s, ok := r.Site(code)
		return s.Name, ok && s.Name != ""
	})
}

// GroupOrder is the position of a status group in RetailCRM's order (unknown groups last).
func (n *Names) GroupOrder(code string) int {
	pos := 1 << 30
	n.find(0, func(r *store.Reference) (string, bool) {
		for _, g := range r.Groups {
			if g.Code == code {
				pos = g.Ordering
				return "", true
			}
		}
		return "", false
	})
	return pos
}
