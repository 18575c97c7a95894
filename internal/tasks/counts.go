package tasks

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"orderimport/internal/access"
	"orderimport/internal/counting"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Limits of the code lists a task names (counting, sites).
const (
	maxCodes   = 200
	maxCodeLen = 100
)

// applyRange applies the task's date range: each end a day or "", the end not before the start.
func applyRange(t *store.Task, in Input, creating bool, ch *changes, bad *problems) {
	from, to := t.BackfillFrom, t.BackfillTo
	ok := true
	for _, f := range []struct {
		field string
		in    *string
		dst   *string
	}{{"backfill_from", in.BackfillFrom, &from}, {"backfill_to", in.BackfillTo, &to}} {
		if f.in == nil {
			continue
		}
		v := strings.TrimSpace(*f.in)
		if v != "" && !isDate(v) {
			bad.add(f.field, locale.M("date_invalid"))
			ok = false
			continue
		}
		*f.dst = v
	}
	if !ok {
		return
	}
	if from != "" && to != "" && to < from {
		bad.add("backfill_to", locale.M("backfill_to_before_from"))
		return
	}
	ch.reread = ch.reread || (!creating && (from != t.BackfillFrom || to != t.BackfillTo))
	t.BackfillFrom, t.BackfillTo = from, to
}

// applyCounting applies what counts and the stores; the codes they name are checked against
// RetailCRM's reference later (settle), when it is at hand.
func applyCounting(t *store.Task, in Input, creating bool, ch *changes, bad *problems) {
	if c := in.Counting; c != nil {
		groups, gok := codeList(c.StatusGroups, "counting.status_groups", bad)
		excluded, eok := codeList(c.ExcludeStatuses, "counting.exclude_statuses", bad)
		switch {
		case !gok || !eok:
		case c.StatusGroups != nil && len(groups) == 0:
			// An empty list is not "the default": nothing would count.
			bad.add("counting.status_groups", locale.M("counting_groups_empty"))
		default:
			var next *store.Counting
			if len(groups) > 0 || len(excluded) > 0 {
				// Groups left out with statuses excluded are the default groups (settle).
				next = &store.Counting{StatusGroups: groups, ExcludeStatuses: excluded}
			}
			ch.counting = !sameCounting(t.Counting, next)
			t.Counting = next
		}
	}
	if in.Sites != nil {
		if sites, ok := codeList(*in.Sites, "sites", bad); ok {
			ch.reread = ch.reread || (!creating && !sameSet(t.Sites, sites))
			t.Sites = sites
		}
	}
	ch.codes = in.Counting != nil || in.Sites != nil
}

// codeList trims a list of RetailCRM codes and drops repeats; an empty or overlong code, or
// too many of them, is refused.
func codeList(in []string, field string, bad *problems) ([]string, bool) {
	if len(in) > maxCodes {
		bad.add(field, locale.M("codes_too_many", "max", maxCodes))
		return nil, false
	}
	var out []string
	for _, c := range in {
		c = strings.TrimSpace(c)
		if c == "" || utf8.RuneCountInString(c) > maxCodeLen {
			bad.add(field, locale.M("code_invalid", "code", clip(c)))
			return nil, false
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, true
}

func sameCounting(a, b *store.Counting) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameSet(a.StatusGroups, b.StatusGroups) && sameSet(a.ExcludeStatuses, b.ExcludeStatuses)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// settle checks the codes a task's counting and stores name against RetailCRM's reference
// (ref nil: not known yet; the status groups are then checked against RetailCRM's standard
// ones, the rest waits for the reference), naming every unknown code at once, and fills in the
// default groups of a counting that only excludes statuses.
func settle(t *store.Task, ref *store.Reference) error {
	var bad problems
	if c := t.Counting; c != nil {
		groups := counting.Groups(ref)
		if c.StatusGroups == nil {
			c.StatusGroups = counting.Effective(nil, ref).StatusGroups
		}
		for _, g := range c.StatusGroups {
			if !slices.Contains(groups, g) {
				bad.add("counting.status_groups", locale.M("status_group_unknown", "code", clip(g)))
			}
		}
		if ref != nil && len(ref.Statuses) > 0 {
			for _, code := range c.ExcludeStatuses {
				if _, ok := ref.Status(code); !ok {
					bad.add("counting.exclude_statuses", locale.M("status_unknown", "code", clip(code)))
				}
			}
		}
	}
	if ref != nil {
		readable := readableSites(ref)
		for _, code := range t.Sites {
			if readable != nil && !slices.Contains(readable, code) {
				bad.add("sites", locale.M("site_unknown", "code", clip(code)))
			}
		}
	}
	return bad.err()
}

// readableSites are the store codes a reference says the task's key may read (nil: unknown).
func readableSites(ref *store.Reference) []string {
	if ref.KeySites != nil {
		return ref.KeySites
	}
	if len(ref.Sites) == 0 {
		return nil
	}
	out := make([]string, 0, len(ref.Sites))
	for _, s := range ref.Sites {
		out = append(out, s.Code)
	}
	return out
}

// liveReference reads RetailCRM's reference for a connection just checked.
func liveReference(ctx context.Context, p *importer.Prepared) (*store.Reference, error) {
	ref, err := importer.ReadReference(ctx, p.Client, p.Settings)
	if err != nil {
		return nil, crmError(err)
	}
	ref.KeySites = p.Sites
	return &ref, nil
}

// keptReference is the reference kept with a task, or, for a task that never kept one, the
// reference read now with its stored key.
func (s *Service) keptReference(ctx context.Context, t store.Task) (*store.Reference, error) {
	kept, err := s.Store.TaskReference(ctx, t.AccountID, t.ID)
	if err == nil {
		return &kept.Reference, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key, err := s.Keys.OpenKey(t)
	if err != nil {
		return nil, invalid("retailcrm.api_key", locale.M("api_key_unreadable"))
	}
	c, err := s.client(t.CRMURL, key, t.RateLimit)
	if err != nil {
		return nil, err
	}
	p, err := preflight(ctx, c)
	if err != nil {
		return nil, crmError(err)
	}
	return liveReference(ctx, p)
}

// recount keeps a task's reference and brings its stored orders in line with what counts now
// (locally: no order is read from RetailCRM).
func (s *Service) recount(ctx context.Context, t store.Task, ref *store.Reference) error {
	_, err := s.Store.Recount(ctx, t.AccountID, t.ID, ref, counting.Classify(ref, t.Counting))
	return err
}

// TaskCounting is a task's effective counting, with the reference that names its codes.
type TaskCounting struct {
	Counting  store.Counting
	Default   bool
	Reference *store.Reference // nil: none read yet
}

// Counting is what counts for a task: its own choice or the default, with the kept reference.
func (s *Service) Counting(ctx context.Context, t store.Task) (TaskCounting, error) {
	out := TaskCounting{Default: t.Counting == nil}
	if err := access.Require(ctx, t.AccountID, access.Read); err != nil {
		return out, err
	}
	kept, err := s.Store.TaskReference(ctx, t.AccountID, t.ID)
	switch {
	case err == nil:
		out.Reference = &kept.Reference
	case !errors.Is(err, store.ErrNotFound):
		return out, err
	}
	out.Counting = counting.Effective(t.Counting, out.Reference)
	return out, nil
}
