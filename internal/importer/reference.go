package importer

import (
	"context"
	"errors"
	"slices"

	"orderimport/internal/counting"
	"orderimport/internal/locale"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// ReadReference reads RetailCRM's reference: the statuses with their groups and names, the
// status groups, the stores with their names and currencies (three requests, no orders, asked
// at once so that they cost one answer time), and takes the account's default currency from its
// settings. A key that may not read the reference (no reference_read) gives a reference marked
// Unreadable, with nothing in it.
func ReadReference(ctx context.Context, c *retailcrm.Client, settings *retailcrm.Settings) (store.Reference, error) {
	ahead := readReferenceAhead(ctx, c)
	defer ahead.stop()
	return ahead.take(settings)
}

// referenceAhead is the reference being read while something else is asked for.
type referenceAhead struct {
	fl *flight[referencePart]
}

type referencePart struct {
	statuses []retailcrm.Status
	groups   []retailcrm.StatusGroup
	sites    []retailcrm.Site
}

func readReferenceAhead(ctx context.Context, c *retailcrm.Client) *referenceAhead {
	ra := &referenceAhead{fl: newFlight[referencePart](ctx, func(float64) int { return 3 })}
	ra.fl.start(func(ctx context.Context) (referencePart, error) {
		v, err := c.Statuses(ctx)
		return referencePart{statuses: v}, err
	})
	ra.fl.start(func(ctx context.Context) (referencePart, error) {
		v, err := c.StatusGroups(ctx)
		return referencePart{groups: v}, err
	})
	ra.fl.start(func(ctx context.Context) (referencePart, error) {
		v, err := c.Sites(ctx)
		return referencePart{sites: v}, err
	})
	return ra
}

// take waits for the three answers; the first error decides.
func (ra *referenceAhead) take(settings *retailcrm.Settings) (store.Reference, error) {
	ref := store.Reference{}
	if settings != nil {
		ref.DefaultCurrency = settings.DefaultCurrency
	}
	var first error
	for ra.fl.pending() > 0 {
		part, err := ra.fl.next()
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		for _, s := range part.statuses {
			ref.Statuses = append(ref.Statuses, store.RefStatus{Code: s.Code, Name: s.Name, Group: s.Group, Active: s.Active, Ordering: s.Ordering})
		}
		for _, g := range part.groups {
			ref.Groups = append(ref.Groups, store.RefGroup{Code: g.Code, Name: g.Name, Ordering: g.Ordering})
		}
		for _, s := range part.sites {
			ref.Sites = append(ref.Sites, store.RefSite{Code: s.Code, Name: s.Name, Currency: s.Currency})
		}
	}
	if retailcrm.IsKind(first, retailcrm.KindAccessDenied) {
		return store.Reference{DefaultCurrency: ref.DefaultCurrency, Unreadable: true}, nil
	}
	if first != nil {
		return store.Reference{}, first
	}
	return ref, nil
}

func (ra *referenceAhead) stop() { ra.fl.stop() }

// keepReference reads the reference at the start of every run, keeps it with the task and
// brings the task's stored orders in line with it: a status RetailCRM moved to another group,
// or a change of the task's counting, re-evaluates them in the database, without reading
// orders again. A reference the key may not read leaves the last one kept in force, and the
// run says so once.
func (r *run) keepReference(ctx context.Context, p *Prepared, prev store.Run) (*store.Reference, error) {
	ref, err := p.reference, p.referenceErr
	if !p.referenceRead {
		ref, err = ReadReference(ctx, r.client, p.Settings)
	}
	if err != nil {
		return nil, r.classify(ctx, err)
	}
	if ref.Unreadable {
		kept, err := r.im.Store.TaskReference(ctx, r.task.AccountID, r.task.ID)
		switch {
		case err == nil:
			kept.Reference.Unreadable, kept.Reference.DefaultCurrency = true, ref.DefaultCurrency
			ref = kept.Reference
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		if !slices.ContainsFunc(prev.Issues, func(is store.Issue) bool { return is.Msg.Code == "reference_unreadable" }) {
			progress := r.progress()
			progress.NewIssues = []store.Issue{{Msg: locale.M("reference_unreadable")}}
			progress.NewIssueCount = 1
			if err := r.im.Store.UpdateRun(ctx, r.runID, *progress); err != nil {
				return nil, err
			}
		}
	}
	res, err := r.im.Store.Recount(ctx, r.task.AccountID, r.task.ID, &ref, counting.Classify(&ref, r.task.Counting))
	if err != nil {
		return nil, err
	}
	if res.Recounted {
		r.log.Info("what counts changed; the stored orders were re-evaluated", "changed", res.Changed, "batches", res.Batches)
	}
	return &ref, nil
}

// TaskSites are the stores a run reads: the task's own choice within what the key may read
// (nil: every store the key may read). A choice the key can no longer read at all needs a
// person: importing nothing would read as every order deleted.
func TaskSites(chosen, readable []string) ([]string, error) {
	if len(chosen) == 0 {
		return readable, nil
	}
	if readable == nil {
		return slices.Clone(chosen), nil
	}
	var out []string
	for _, s := range chosen {
		if slices.Contains(readable, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, &Failure{Permanent: true, Msg: locale.M("crm_no_task_store")}
	}
	return out, nil
}

// PlannedRequests is about how many requests a first run makes to read orders orders: a page
// per 100, the key check and the reference, finding where the feed ends (and the oldest day,
// when the range has no start), a partial last page and a check of the feed per window, and
// the catch-up at the end.
func PlannedRequests(orders int64, startChosen bool) int64 {
	c := Config{}
	c.defaults()
	pages := (orders + int64(c.PageSize) - 1) / int64(c.PageSize)
	windows := max(1, (orders+int64(c.WindowTarget)-1)/int64(c.WindowTarget))
	overhead := int64(2 + 3 + 1 + 2) // key check and settings, the reference, the feed's end, catch-up and access check
	if !startChosen {
		overhead += 3
	}
	return pages + 2*windows + overhead
}
