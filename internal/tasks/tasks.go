// Package tasks is the use-case layer of the service: the one place that knows the rules of
// counters and import tasks. It validates them (every invalid field at once, each with a
// message code), merges a task's mapping over the defaults, seals and opens RetailCRM keys,
// checks a connection, previews the mapping, starts runs and re-syncs, and parses order
// filters and computes summaries. The JSON API (internal/api) and the web UI (internal/web)
// are thin adapters over it: they decode a request, call a use case and render its answer or
// its messages in the reader's language.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"orderimport/internal/access"
	"orderimport/internal/alert"
	"orderimport/internal/audit"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/netguard"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// Enqueuer starts runs (the job system).
type Enqueuer interface {
	Enqueue(ctx context.Context, task store.Task, kind string) (store.Run, error)
}

// Service implements the use cases.
type Service struct {
	Store      *store.Store
	Keys       *Keys
	Jobs       Enqueuer
	Policy     netguard.Policy
	HTTPClient *http.Client
	Limiters   *retailcrm.Limiters
	Audit      *audit.Log // nil: nothing recorded
	Now        func() time.Time
	// The orders' way out: the job system's side of triggers, webhooks and incidents (nil: none
	// is started), the guard and the sender for webhook receivers, the alerts' notifier.
	Flow          Flow
	WebhookPolicy netguard.Policy
	Sender        *webhook.Sender
	Alerts        *alert.Notifier
	// PublicURL is the service's address for the links it hands out (trigger URLs, alerts);
	// "" takes the address a request reached the service at.
	PublicURL string
}

// The rules' limits and defaults.
const (
	MaxNameLen       = 200
	MaxFrequency     = 168
	DefaultFrequency = 1
	DefaultRateLimit = 10.0
	MaxRateLimit     = 100.0
	// DefaultTimezone is a new counter's zone when none is given: the product's users are
	// mostly in Moscow time.
	DefaultTimezone = "Europe/Moscow"
	// TypeRetailCRM is the one connection type so far.
	TypeRetailCRM = "retailcrm"
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// RetailCRMInput is the connection part of a task.
type RetailCRMInput struct {
	URL       *string  `json:"url"`
	APIKey    *string  `json:"api_key"`
	RateLimit *float64 `json:"rate_limit"`
}

// Input is a task as sent by a user; nil fields are left as they are (PATCH) or defaulted
// (create). A mapping entry set to null is removed (the field follows the default again); ""
// unmaps an optional field.
type Input struct {
	Name           *string            `json:"name"`
	Active         *bool              `json:"active"`
	Type           *string            `json:"type"`
	FrequencyHours *int               `json:"frequency_hours"`
	RetailCRM      *RetailCRMInput    `json:"retailcrm"`
	Mapping        map[string]*string `json:"mapping"`
	BackfillFrom   *string            `json:"backfill_from"`
	BackfillTo     *string            `json:"backfill_to"`
	Counting       *CountingInput     `json:"counting"`
	// Sites are the stores whose orders the task imports; an empty list: every store the key
	// can read.
	Sites *[]string `json:"sites"`
	// PII is what the task keeps of a buyer's contacts: "keep" (the default), "hash" or "drop".
	PII *string `json:"pii"`
	// OrdersRetentionDays deletes orders older than that many days (by order date); null: kept.
	OrdersRetentionDays OptionalDays `json:"orders_retention_days"`
}

// CountingInput is what counts in revenue and profit: orders whose status is in one of
// StatusGroups and is not one of ExcludeStatuses. {} (both absent or empty) is the default:
// every group except cancel; ExcludeStatuses alone keeps the default groups.
type CountingInput struct {
	StatusGroups    []string `json:"status_groups"`
	ExcludeStatuses []string `json:"exclude_statuses"`
}

// changes says what applying an input changed, for what has to follow.
type changes struct {
	key       string // the typed key, when one was given (checked and sealed before saving)
	keyNeeded bool   // the URL or key changed: the new pair is checked against RetailCRM
	mapping   bool
	frequency bool
	counting  bool // what counts changed: the stored orders are re-evaluated
	// codes: counting or sites name RetailCRM codes that must be checked against the reference
	codes bool
	// reread: the task's set of orders changed (stores, date range): its orders are read again
	reread bool
	// pii: what is kept of contacts changed: the stored orders are rewritten as a mapping change
	// rewrites them
	pii bool
}

// apply checks in against the rules and applies it to t; creating makes absent fields take
// their defaults. Every broken rule is reported at once.
func (s *Service) apply(t *store.Task, in Input, creating bool) (changes, error) {
	var ch changes
	var bad problems
	if in.Name != nil || creating {
		if name, ok := checkName(in.Name, locale.M("task_name_required"), &bad); ok {
			t.Name = name
		}
	}
	if in.Active != nil {
		t.Active = *in.Active
	} else if creating {
		t.Active = true
	}
	if in.Type != nil || creating {
		typ := TypeRetailCRM
		if in.Type != nil {
			typ = strings.TrimSpace(*in.Type)
		}
		if typ != TypeRetailCRM {
			bad.add("type", locale.M("type_unsupported", "value", clip(typ)))
		} else {
			t.Type = typ
		}
	}
	if in.FrequencyHours != nil {
		if *in.FrequencyHours < 1 || *in.FrequencyHours > MaxFrequency {
			bad.add("frequency_hours", locale.M("frequency_invalid", "max", MaxFrequency))
		} else {
			ch.frequency = t.FrequencyHours != *in.FrequencyHours && !creating
			t.FrequencyHours = *in.FrequencyHours
		}
	} else if creating {
		t.FrequencyHours = DefaultFrequency
	}
	applyRange(t, in, creating, &ch, &bad)
	applyCounting(t, in, creating, &ch, &bad)
	applyMemory(t, in, creating, &ch, &bad)
	s.applyConnection(t, in.RetailCRM, creating, &ch, &bad)
	if in.Mapping != nil || creating {
		own := make(map[string]string, len(t.Mapping)+len(in.Mapping))
		for f, e := range t.Mapping {
			own[f] = e
		}
		for field, expr := range in.Mapping {
			if expr == nil {
				delete(own, field)
				continue
			}
			own[field] = strings.TrimSpace(*expr)
		}
		if fields := mappingProblems(own); len(fields) > 0 {
			bad = append(bad, fields...)
		} else {
			ch.mapping = !creating && !sameMapping(own, t.Mapping)
			t.Mapping = own
		}
	}
	return ch, bad.err()
}

func (s *Service) applyConnection(t *store.Task, rc *RetailCRMInput, creating bool, ch *changes, bad *problems) {
	if rc == nil {
		if creating {
			bad.add("retailcrm.url", locale.M("url_required"))
			bad.add("retailcrm.api_key", locale.M("api_key_required"))
		}
		return
	}
	urlChanged := false
	if rc.URL != nil || creating {
		raw := ""
		if rc.URL != nil {
			raw = strings.TrimSpace(*rc.URL)
		}
		if raw == "" {
			bad.add("retailcrm.url", locale.M("url_required"))
		} else if u, err := s.Policy.CheckURL(raw); err != nil {
			bad.add("retailcrm.url", urlMessage(err))
		} else {
			urlChanged = u != t.CRMURL
			t.CRMURL = u
		}
	}
	switch {
	case rc.APIKey != nil && strings.TrimSpace(*rc.APIKey) != "":
		ch.key = strings.TrimSpace(*rc.APIKey)
		ch.keyNeeded = true
	case creating || rc.APIKey != nil:
		bad.add("retailcrm.api_key", locale.M("api_key_required"))
	case urlChanged:
		bad.add("retailcrm.api_key", locale.M("api_key_again"))
	}
	if rc.RateLimit != nil {
		if *rc.RateLimit <= 0 || *rc.RateLimit > MaxRateLimit {
			bad.add("retailcrm.rate_limit", locale.M("rate_limit_invalid", "max", MaxRateLimit))
		} else {
			t.RateLimit = *rc.RateLimit
		}
	} else if creating {
		t.RateLimit = DefaultRateLimit
	}
}

// urlMessage is why the SSRF guard's address check refused a URL.
func urlMessage(err error) locale.Message {
	if m, ok := locale.MessageOf(err); ok {
		return m
	}
	return locale.M("url_invalid")
}

// checkName applies the rule of every name (a task's, a counter's): required, at most
// MaxNameLen characters, trimmed.
func checkName(in *string, required locale.Message, bad *problems) (string, bool) {
	name := ""
	if in != nil {
		name = strings.TrimSpace(*in)
	}
	switch {
	case name == "":
		bad.add("name", required)
	case utf8.RuneCountInString(name) > MaxNameLen:
		bad.add("name", locale.M("name_too_long", "max", MaxNameLen))
	default:
		return name, true
	}
	return "", false
}

func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// clip shortens a value echoed in a message: a pasted secret in the wrong field must not be
// repeated whole.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func sameMapping(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// EffectiveMapping is the mapping a task imports with: the defaults, with the task's own
// choices over them.
func EffectiveMapping(own map[string]string) map[string]string {
	eff := mapping.Default()
	for f, e := range own {
		eff[f] = e
	}
	return eff
}

// StartsOnSave tells whether saving a task starts an import at once, so the form can say so
// truthfully: a new active task does, and so does switching an existing one on. Editing a task
// that is already active does not (its schedule goes on).
func StartsOnSave(existing *store.Task, active bool) bool {
	return active && (existing == nil || !existing.Active)
}

// Validate checks an input against the rules as Create (taskID 0) or Update would, without
// asking RetailCRM or saving anything: a form that cannot be saved for a reason of its own
// still names every other broken rule at once.
func (s *Service) Validate(ctx context.Context, accountID, taskID int64, in Input) error {
	var t store.Task
	if taskID != 0 {
		var err error
		if t, err = s.Store.Task(ctx, accountID, taskID); err != nil {
			return err
		}
	}
	ch, err := s.apply(&t, in, taskID == 0)
	if err != nil || !ch.codes {
		return err
	}
	var ref *store.Reference
	if taskID != 0 {
		if kept, err := s.Store.TaskReference(ctx, accountID, taskID); err == nil {
			ref = &kept.Reference
		}
	}
	return settle(&t, ref)
}

// Create validates, checks the key against RetailCRM, seals it and saves the task; an active
// task's first run is enqueued at once. A new connection gives the service a key: owners only.
func (s *Service) Create(ctx context.Context, accountID, counterID int64, in Input) (store.Task, error) {
	if err := access.Require(ctx, accountID, access.EditTasks, access.SetKeys); err != nil {
		return store.Task{}, err
	}
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return store.Task{}, err
	}
	t := store.Task{AccountID: accountID, CounterID: counterID, SavedBy: author(ctx)}
	ch, err := s.apply(&t, in, true)
	if err != nil {
		return store.Task{}, err
	}
	p, err := s.checkKey(ctx, t.CRMURL, ch.key)
	if err != nil {
		return store.Task{}, err
	}
	ref, err := liveReference(ctx, p)
	if err != nil {
		return store.Task{}, err
	}
	if err := settle(&t, ref); err != nil {
		return store.Task{}, err
	}
	if t.CRMKeySealed, t.CRMKeyHint, err = s.Keys.Seal(accountID, ch.key); err != nil {
		return store.Task{}, err
	}
	t, err = s.Store.CreateTask(ctx, t)
	if err != nil {
		return store.Task{}, err
	}
	if err := s.setTrigger(ctx, &t, true); err != nil {
		return t, err
	}
	// Kept at once, so that the task's page names its statuses and stores before its first run.
	if err := s.recount(ctx, t, ref); err != nil {
		return t, err
	}
	s.Audit.Record(ctx, accountID, audit.ImportCreate, taskTarget(t.ID),
		locale.M("audit_task_created", "name", t.Name, "counter", t.CounterID, "url", t.CRMURL, "hint", t.CRMKeyHint))
	if t.Active {
		if err := s.startScheduled(ctx, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (s *Service) checkKey(ctx context.Context, u, key string) (*importer.Prepared, error) {
	c, err := s.client(u, key, 0)
	if err != nil {
		return nil, err
	}
	p, err := preflight(ctx, c)
	if err != nil {
		return nil, crmError(err)
	}
	return p, nil
}

// startScheduled enqueues the task's run now and puts its next scheduled run one period
// later, as the scheduler would have.
func (s *Service) startScheduled(ctx context.Context, t *store.Task) error {
	if _, err := s.Jobs.Enqueue(ctx, *t, store.RunScheduled); err != nil {
		return err
	}
	next := s.now().UTC().Add(time.Duration(t.FrequencyHours) * time.Hour)
	t.NextRunAt = &next
	updated, err := s.Store.UpdateTask(ctx, *t)
	if err != nil {
		return err
	}
	*t = updated
	return nil
}

// Update applies a partial change. A new URL or key is checked and sealed; any edit brings a
// task out of needs_attention (the user has acted on it); activating a task runs it now; a new
// frequency moves the next run to one new period after the last scheduled one; a changed
// mapping re-applies itself to the stored orders through a re-sync. A new key or URL is the
// owners' to give.
func (s *Service) Update(ctx context.Context, accountID, id int64, in Input) (store.Task, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Task{}, err
	}
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Task{}, err
	}
	before := t
	t.SavedBy = author(ctx)
	ch, err := s.apply(&t, in, false)
	if ch.keyNeeded {
		if err := access.Require(ctx, accountID, access.SetKeys); err != nil {
			return store.Task{}, err
		}
	}
	if err != nil {
		return store.Task{}, err
	}
	var ref *store.Reference
	if ch.keyNeeded {
		p, err := s.checkKey(ctx, t.CRMURL, ch.key)
		if err != nil {
			return store.Task{}, err
		}
		if ref, err = liveReference(ctx, p); err != nil {
			return store.Task{}, err
		}
		if t.CRMKeySealed, t.CRMKeyHint, err = s.Keys.Seal(accountID, ch.key); err != nil {
			return store.Task{}, err
		}
	} else if ch.codes || ch.counting {
		if ref, err = s.keptReference(ctx, before); err != nil {
			return store.Task{}, err
		}
	}
	if ref != nil {
		if err := settle(&t, ref); err != nil {
			return store.Task{}, err
		}
	}
	t.Status, t.StatusMsg, t.ConsecutiveFailures = store.TaskOK, locale.Message{}, 0
	now := s.now().UTC()
	switch {
	case !t.Active:
		t.NextRunAt = nil
	case !before.Active || t.NextRunAt == nil:
		t.NextRunAt = &now
	case ch.frequency:
		// The last scheduled run was one old period before the next; the next is one new
		// period after it, or now when that moment has passed.
		next := t.NextRunAt.Add(-time.Duration(before.FrequencyHours) * time.Hour).Add(time.Duration(t.FrequencyHours) * time.Hour)
		if next.Before(now) {
			next = now
		}
		t.NextRunAt = &next
	}
	t, err = s.Store.UpdateTask(ctx, t)
	if err != nil {
		return store.Task{}, err
	}
	s.Audit.Record(ctx, accountID, audit.ImportUpdate, taskTarget(t.ID),
		locale.M("audit_task_changed", "fields", strings.Join(changedFields(before, t, ch.keyNeeded), ",")))
	if ch.keyNeeded {
		s.Audit.Record(ctx, accountID, audit.KeyReplaced, taskTarget(t.ID),
			locale.M("audit_key_replaced", "old_hint", before.CRMKeyHint, "old_url", before.CRMURL, "hint", t.CRMKeyHint, "url", t.CRMURL))
	}
	// An edit brings the task out of needs_attention: its incident may be over.
	s.reconsider(ctx, alert.TaskSubject(t.ID))
	if ref != nil && (ch.keyNeeded || ch.counting) {
		// What counts is re-evaluated on the stored orders now, in the database: the totals a
		// person looks at next already follow the new choice.
		if err := s.recount(ctx, t, ref); err != nil {
			return t, err
		}
	}
	if ch.pii && t.PII != mapping.PIIKeep {
		// The timeline and the runs' issues are cleared of clear contacts now; the orders
		// themselves are rewritten by the re-map that follows.
		if err := s.Store.ForgetClearContacts(ctx, accountID, t.ID); err != nil {
			return t, err
		}
	}
	if ch.reread {
		if _, err := s.Jobs.Enqueue(ctx, t, store.RunResync); err != nil {
			return t, err
		}
	} else if ch.mapping || ch.pii {
		if err := s.remap(ctx, t); err != nil {
			return t, err
		}
	} else if StartsOnSave(&before, t.Active) {
		if err := s.startScheduled(ctx, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

// ErrRunActive is returned when a re-sync is asked for while a run is queued or running.
var ErrRunActive = locale.Err("run_active")

// RunNow queues a run (also of an inactive task); when one is queued or running already,
// that one is returned.
func (s *Service) RunNow(ctx context.Context, accountID, id int64) (store.Run, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Run{}, err
	}
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Run{}, err
	}
	// On a disk without room the run could not get on: the person asking is told at once.
	if err := s.Store.Room(); err != nil {
		return store.Run{}, err
	}
	r, err := s.Jobs.Enqueue(ctx, t, store.RunManual)
	if err != nil {
		return store.Run{}, err
	}
	s.Audit.Record(ctx, accountID, audit.RunStart, taskTarget(t.ID), locale.M("audit_run_started", "run", r.ID))
	return r, nil
}

// Delete stops a task for good; its imported orders stay, its sealed key goes.
func (s *Service) Delete(ctx context.Context, accountID, id int64) error {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return err
	}
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteTask(ctx, accountID, id); err != nil {
		return err
	}
	s.Audit.Record(ctx, accountID, audit.ImportDelete, taskTarget(id),
		locale.M("audit_task_deleted", "name", t.Name, "hint", t.CRMKeyHint, "url", t.CRMURL))
	s.reconsider(ctx, alert.TaskSubject(id))
	return nil
}

// Resync queues a run that re-reads every order and then flags deleted what RetailCRM no
// longer has.
func (s *Service) Resync(ctx context.Context, accountID, id int64) (store.Run, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Run{}, err
	}
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Run{}, err
	}
	active, err := s.Store.ActiveRun(ctx, accountID, id)
	if err != nil {
		return store.Run{}, err
	}
	if active != nil {
		return *active, ErrRunActive
	}
	if err := s.Store.Room(); err != nil {
		return store.Run{}, err
	}
	r, err := s.Jobs.Enqueue(ctx, t, store.RunResync)
	if err != nil {
		return store.Run{}, err
	}
	if r.Kind != store.RunResync {
		return r, ErrRunActive
	}
	s.Audit.Record(ctx, accountID, audit.Resync, taskTarget(t.ID), locale.M("audit_resync_started", "run", r.ID))
	return r, nil
}

func taskTarget(id int64) string { return fmt.Sprintf("import:%d", id) }

// changedFields names the fields an update changed, in the API's names (the audit log shows
// them in the reader's words), with the old and new value of the switch and the frequency;
// never a key's value.
func changedFields(a, b store.Task, keyChanged bool) []string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(a.Name != b.Name, "name")
	add(a.Active != b.Active, fmt.Sprintf("active:%t:%t", a.Active, b.Active))
	add(a.FrequencyHours != b.FrequencyHours, fmt.Sprintf("frequency_hours:%d:%d", a.FrequencyHours, b.FrequencyHours))
	add(a.CRMURL != b.CRMURL, "retailcrm.url")
	add(keyChanged, "retailcrm.api_key")
	add(a.RateLimit != b.RateLimit, "retailcrm.rate_limit")
	add(!sameMapping(a.Mapping, b.Mapping), "mapping")
	add(a.BackfillFrom != b.BackfillFrom, "backfill_from")
	add(a.BackfillTo != b.BackfillTo, "backfill_to")
	add(!sameCounting(a.Counting, b.Counting), "counting")
	add(!sameSet(a.Sites, b.Sites), "sites")
	add(a.PII != b.PII, fmt.Sprintf("pii:%s:%s", a.PII, b.PII))
	add(!sameDays(a.OrdersRetentionDays, b.OrdersRetentionDays), "orders_retention_days")
	return out
}

// IsNotFound reports an absent (or another account's) counter, task or run.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
