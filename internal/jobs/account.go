package jobs

import (
	"context"
	"strings"
	"time"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// With several worker processes on PostgreSQL, each process paces its own requests (the
// retailcrm package's per-account limiter), but RetailCRM counts the requests of all of them
// against one limit. So a run holds its RetailCRM account for the length of its slice: only
// one worker in the cluster talks to an account at a time, and the account's pace is the pace
// of one limiter. A second task of the same account waits its turn instead of running in
// parallel. (On SQLite there is one process, whose limiter already sees every request.)

const (
	// handoverQuiet is how long after the previous holder's lease ended a holder in another
	// process waits before its first request. RetailCRM counts requests in a sliding second
	// and this process's limiter has not seen the previous holder's last ones; slightly over
	// a second for clock and network jitter.
	handoverQuiet = 1100 * time.Millisecond
	// accountPoll is how often a job waiting for a busy account asks again.
	accountPoll = 200 * time.Millisecond
)

// accountHold is a held RetailCRM account.
type accountHold struct {
	j          *Jobs
	key, owner string
}

// release ends the hold now; the lease row keeps the time, for the next holder's handover.
func (h *accountHold) release(ctx context.Context) {
	if err := h.j.store.ReleaseAccountLease(ctx, h.key, h.owner); err != nil {
		// The lease ends by itself at its expiry; the account only waits longer.
		h.j.log.Warn("could not release the RetailCRM account lease; it expires by itself", "error", err)
	}
}

// accountKey identifies a RetailCRM account the way the limiter does: by normalised URL.
func accountKey(raw string) string {
	if k, err := retailcrm.NormalizeURL(raw); err == nil {
		return k
	}
	return raw
}

// holdAccount takes the task's RetailCRM account for the length of one attempt (it cannot
// outlive River's job timeout, so a dead holder frees it by then). It waits up to
// Config.AccountWait for a busy account and returns nil if it stays busy. After a handover
// from another process it also waits out the previous holder's last second.
func (j *Jobs) holdAccount(ctx context.Context, task store.Task, owner string) (*accountHold, error) {
	key := accountKey(task.CRMURL)
	giveUp := j.now().Add(j.cfg.AccountWait)
	for {
		l, err := j.store.AcquireAccountLease(ctx, key, owner, j.now().Add(j.cfg.jobTimeout()))
		if err != nil {
			return nil, err
		}
		if l.Acquired {
			h := &accountHold{j: j, key: key, owner: owner}
			if l.PrevOwner != "" && !j.ownedHere(l.PrevOwner) {
				if err := sleep(ctx, l.PrevUntil.Add(handoverQuiet).Sub(j.now())); err != nil {
					h.release(context.WithoutCancel(ctx))
					return nil, err
				}
			}
			return h, nil
		}
		if !j.now().Before(giveUp) {
			return nil, nil
		}
		if err := sleep(ctx, min(accountPoll, giveUp.Sub(j.now()))); err != nil {
			return nil, err
		}
	}
}

// ownedHere reports whether a lease owner is a job of this process, whose limiter has seen
// that job's requests.
func (j *Jobs) ownedHere(owner string) bool {
	return strings.HasPrefix(owner, j.client.ID()+"/")
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
