package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/counting"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// PreviewInput asks for the newest orders mapped as an import would store them. The key may
// be omitted when TaskID names a saved task (editing: the stored key is used, never shown).
type PreviewInput struct {
	RetailCRM RetailCRMInput     `json:"retailcrm"`
	Mapping   map[string]*string `json:"mapping"`
	CounterID int64              `json:"counter_id"`
	TaskID    int64              `json:"task_id"`
	Limit     int                `json:"limit"`
}

// PreviewOrder is one order as it would be stored, or why it would not be.
type PreviewOrder struct {
	CRMID    int64           `json:"crm_id"`
	Number   string          `json:"number"`
	Rejected bool            `json:"rejected"`
	Order    *store.OrderRow `json:"-"`
	Issues   []store.Issue   `json:"issues"`
}

// Preview is the answer of a preview.
type Preview struct {
	Timezone string         `json:"timezone"`
	Orders   []PreviewOrder `json:"orders"`
	// Names names the orders' statuses and stores from the reference read for the preview.
	Names *Names `json:"-"`
}

// MaxPreview bounds a preview: it is for eyes, not for export.
const MaxPreview = 50

// Preview fetches the newest orders and maps them.
func (s *Service) Preview(ctx context.Context, accountID int64, in PreviewInput) (*Preview, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return nil, err
	}
	if in.Limit == 0 {
		in.Limit = 10
	}
	var bad problems
	if in.Limit < 1 || in.Limit > MaxPreview {
		bad.add("limit", locale.M("limit_invalid", "max", MaxPreview))
	}
	if in.CounterID == 0 {
		bad.add("counter_id", locale.M("counter_id_required"))
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	counter, err := s.Store.Counter(ctx, accountID, in.CounterID)
	if err != nil {
		return nil, err
	}
	counterTZ, err := time.LoadLocation(counter.Timezone)
	if err != nil {
		return nil, fmt.Errorf("tasks: counter timezone %q: %w", counter.Timezone, err)
	}
	own := map[string]string{}
	var rule *store.Counting
	pii := ""
	if in.TaskID != 0 {
		t, err := s.Store.Task(ctx, accountID, in.TaskID)
		if err != nil {
			return nil, err
		}
		for f, e := range t.Mapping {
			own[f] = e
		}
		rule, pii = t.Counting, t.PII
	}
	for f, e := range in.Mapping {
		if e == nil {
			delete(own, f)
		} else {
			own[f] = strings.TrimSpace(*e)
		}
	}
	m, err := CompileMapping(own)
	if err != nil {
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
	page, err := c.Orders(ctx, retailcrm.OrdersFilter{Sites: p.Sites}, 1, pageFor(in.Limit))
	if err != nil {
		return nil, crmError(err)
	}
	// The reference too, so that the orders show their currency, status group and whether they
	// count exactly as an import would store them.
	ref, err := liveReference(ctx, p)
	if err != nil {
		return nil, err
	}
	classes := counting.Classify(ref, rule)
	out := &Preview{Timezone: counter.Timezone, Orders: []PreviewOrder{}, Names: NamesOf(ref)}
	// Under the task's pii, as the import would store them: a preview shows no clear contact of
	// a task that keeps none.
	mapper := importer.NewMapper(m, p.AccountTZ, counterTZ).WithReference(ref).WithPII(pii)
	for i := range page.Orders {
		if len(out.Orders) == in.Limit {
			break
		}
		o := &page.Orders[i]
		row, rejected, issues := mapper.MapOne(o)
		po := PreviewOrder{CRMID: o.ID, Number: o.Number, Rejected: rejected, Issues: issues}
		if !rejected {
			row.StatusGroup, row.Counted = classes.Of(row.Status)
			po.Order = &row
		}
		if po.Issues == nil {
			po.Issues = []store.Issue{}
		}
		out.Orders = append(out.Orders, po)
	}
	return out, nil
}

func pageFor(n int) int {
	switch {
	case n <= 20:
		return 20
	case n <= 50:
		return 50
	}
	return 100
}
