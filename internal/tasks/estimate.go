package tasks

import (
	"context"
	"math"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// EstimateInput asks what a task's first run will read: a typed connection, or (TaskID) a saved
// task's, and the date range and stores the task would have.
type EstimateInput struct {
	RetailCRM    RetailCRMInput `json:"retailcrm"`
	TaskID       int64          `json:"task_id"`
	BackfillFrom string         `json:"backfill_from"`
	BackfillTo   string         `json:"backfill_to"`
	Sites        []string       `json:"sites"`
}

// Estimate is what a first run will read and how long it takes at the account's pace.
type Estimate struct {
	Orders   int64 `json:"orders"`
	Requests int64 `json:"requests"`
	Seconds  int64 `json:"seconds"`
}

// Estimate counts the orders a first run would read, from at most three requests to RetailCRM:
// the key check (the same check, and the same refusal, as a saved task's), the account's
// settings, and one list of the smallest page whose total is the count.
func (s *Service) Estimate(ctx context.Context, accountID int64, in EstimateInput) (*Estimate, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return nil, err
	}
	var bad problems
	t := store.Task{}
	var kept *store.Reference
	if in.TaskID != 0 {
		var err error
		if t, err = s.Store.Task(ctx, accountID, in.TaskID); err != nil {
			return nil, err
		}
		if tr, err := s.Store.TaskReference(ctx, accountID, t.ID); err == nil {
			kept = &tr.Reference
		}
	}
	from, to := in.BackfillFrom, in.BackfillTo
	var ch changes
	applyRange(&t, Input{BackfillFrom: &from, BackfillTo: &to}, true, &ch, &bad)
	sites, _ := codeList(in.Sites, "sites", &bad)
	rate := DefaultRateLimit
	if t.RateLimit > 0 {
		rate = t.RateLimit
	}
	if r := in.RetailCRM.RateLimit; r != nil {
		if *r <= 0 || *r > MaxRateLimit {
			bad.add("retailcrm.rate_limit", locale.M("rate_limit_invalid", "max", MaxRateLimit))
		} else {
			rate = *r
		}
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	url, key := "", ""
	if in.RetailCRM.URL != nil {
		url = *in.RetailCRM.URL
	}
	if in.RetailCRM.APIKey != nil {
		key = *in.RetailCRM.APIKey
	}
	c, err := s.connection(ctx, accountID, url, key, in.TaskID)
	if err != nil {
		return nil, err
	}
	p, err := preflight(ctx, c)
	if err != nil {
		return nil, crmError(err)
	}
	if kept == nil {
		kept = &store.Reference{KeySites: p.Sites}
	}
	t.Sites = sites
	if err := settle(&t, kept); err != nil {
		return nil, err
	}
	read, err := importer.TaskSites(sites, p.Sites)
	if err != nil {
		return nil, invalid("sites", locale.M("crm_no_task_store"))
	}
	page, err := c.Orders(ctx, retailcrm.OrdersFilter{CreatedAtFrom: t.BackfillFrom, CreatedAtTo: t.BackfillTo, Sites: read}, 1, 20)
	if err != nil {
		return nil, crmError(err)
	}
	n := int64(page.Pagination.TotalCount)
	req := importer.PlannedRequests(n, strings.TrimSpace(t.BackfillFrom) != "")
	return &Estimate{Orders: n, Requests: req, Seconds: int64(math.Ceil(float64(req) / rate))}, nil
}

// EstimateText says an estimate in words: «≈ 84 000 заказов, около 2 минут».
func EstimateText(e *Estimate) locale.Message {
	switch {
	case e.Seconds < 60:
		return locale.M("estimate_under_minute", "orders", e.Orders)
	case e.Seconds < 90*60:
		return locale.M("estimate_minutes", "orders", e.Orders, "minutes", (e.Seconds+59)/60)
	}
	return locale.M("estimate_hours", "orders", e.Orders, "hours", (e.Seconds+1800)/3600)
}
