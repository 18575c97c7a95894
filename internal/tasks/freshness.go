package tasks

import (
	"context"
	"strconv"
	"time"

	"orderimport/internal/store"
)

// Freshness is how current a task's orders are.
type Freshness struct {
	// LastSuccessAt is when the newest successful run finished; AsOf when it started: the
	// stored orders reflect RetailCRM at least as it was then. Both nil before any success.
	LastSuccessAt *time.Time
	AsOf          *time.Time
	// Lag is how long ago AsOf was.
	Lag time.Duration
	// Cursor is the last entry of RetailCRM's change history the task applied ("" before the
	// first run reached the history).
	Cursor string
	// RequestsToday counts the calls made to RetailCRM by the task's runs started today (in
	// the counter's timezone).
	RequestsToday int64
	// PaceRPS is the pace the task's RetailCRM account is read at now: the limiter's, which
	// adapts down after 503s, or the configured one when this process has not read it yet.
	PaceRPS float64
}

// Freshness says how current one of the account's tasks' orders are.
func (s *Service) Freshness(ctx context.Context, t store.Task) (Freshness, error) {
	c, err := s.Store.Counter(ctx, t.AccountID, t.CounterID)
	if err != nil {
		return Freshness{}, err
	}
	now := s.now()
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	st, err := s.Store.TaskFreshness(ctx, t.AccountID, t.ID, midnight)
	if err != nil {
		return Freshness{}, err
	}
	f := Freshness{RequestsToday: st.RequestsToday, PaceRPS: t.RateLimit}
	if st.HistorySinceID > 0 {
		f.Cursor = strconv.FormatInt(st.HistorySinceID, 10)
	}
	if r := st.LastSuccess; r != nil && r.FinishedAt != nil {
		f.LastSuccessAt = r.FinishedAt
		f.AsOf = r.StartedAt
		if f.AsOf == nil {
			f.AsOf = &r.QueuedAt
		}
		f.Lag = max(now.Sub(*f.AsOf), 0)
	}
	if s.Limiters != nil {
		if ls := s.Limiters.Stats(t.CRMURL); ls.Configured > 0 {
			f.PaceRPS = ls.Pace
		}
	}
	return f, nil
}

// CounterFreshness is how current a counter's orders are: as of the oldest moment any of its
// active tasks is current at. ok is false while an active task has not succeeded yet, or when
// the counter has no active task.
func (s *Service) CounterFreshness(ctx context.Context, accountID, counterID int64) (asOf time.Time, ok bool, err error) {
	ts, err := s.Store.Tasks(ctx, accountID, counterID)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, t := range ts {
		if !t.Active {
			continue
		}
		f, err := s.Freshness(ctx, t)
		if err != nil {
			return time.Time{}, false, err
		}
		if f.AsOf == nil {
			return time.Time{}, false, nil
		}
		if !ok || f.AsOf.Before(asOf) {
			asOf, ok = *f.AsOf, true
		}
	}
	return asOf, ok, nil
}
