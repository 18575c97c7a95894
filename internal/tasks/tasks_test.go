package tasks_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// jobs records what the use cases enqueue instead of running it.
type jobs struct {
	mu    sync.Mutex
	kinds []string
}

func (j *jobs) Enqueue(ctx context.Context, t store.Task, kind string) (store.Run, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.kinds = append(j.kinds, kind)
	return store.Run{TaskID: t.ID, Kind: kind}, nil
}

func (j *jobs) enqueued() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.kinds...)
}

// service is the use cases over a fresh SQLite store at the moment *now, with one active
// task running every frequency hours whose next run is at next.
func service(t *testing.T, now *time.Time, frequency int, next time.Time) (*tasks.Service, *jobs, store.Task) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, _, err := st.AddUser(ctx, "owner@example.com", "correct horse battery", "Shop", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", tasks.DefaultTimezone)
	if err != nil {
		t.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "Заказы", Active: true,
		Type: tasks.TypeRetailCRM, FrequencyHours: frequency, CRMURL: "https://shop.retailcrm.ru", RateLimit: tasks.DefaultRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	task.NextRunAt = &next
	if task, err = st.UpdateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	j := &jobs{}
	return &tasks.Service{Store: st, Jobs: j, Now: func() time.Time { return *now }}, j, task
}

// A new frequency moves the next run to one new period after the last scheduled run (the next
// one minus the old period), or to now when that moment has passed; the schedule goes on
// without an import started by the save.
func TestUpdateFrequencyMovesTheNextRun(t *testing.T) {
	t.Parallel()
	// The use cases are called as the operator would: no request, no role.
	ctx := access.System(context.Background())
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	next := now.Add(40 * time.Minute) // the last scheduled run was 20 minutes ago
	svc, j, task := service(t, &now, 1, next)

	three := 3
	got, err := svc.Update(ctx, task.AccountID, task.ID, tasks.Input{FrequencyHours: &three})
	if err != nil {
		t.Fatal(err)
	}
	if got.NextRunAt == nil || !got.NextRunAt.Equal(next.Add(2*time.Hour)) {
		t.Fatalf("1 h → 3 h: next run %v, want %v (two hours later)", got.NextRunAt, next.Add(2*time.Hour))
	}
	stored, err := svc.Store.Task(ctx, task.AccountID, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.FrequencyHours != 3 || stored.NextRunAt == nil || !stored.NextRunAt.Equal(next.Add(2*time.Hour)) {
		t.Fatalf("stored: every %d h, next %v", stored.FrequencyHours, stored.NextRunAt)
	}

	// Two and a half hours on, the run at 14:40 has not happened yet; back to every hour, the
	// next run would have been at 12:40, which has passed: it is due now.
	now = now.Add(150 * time.Minute)
	one := 1
	if got, err = svc.Update(ctx, task.AccountID, task.ID, tasks.Input{FrequencyHours: &one}); err != nil {
		t.Fatal(err)
	}
	if got.NextRunAt == nil || !got.NextRunAt.Equal(now) {
		t.Fatalf("3 h → 1 h after its moment: next run %v, want now %v", got.NextRunAt, now)
	}

	// The same frequency again changes nothing.
	if got, err = svc.Update(ctx, task.AccountID, task.ID, tasks.Input{FrequencyHours: &one}); err != nil || !got.NextRunAt.Equal(now) {
		t.Fatalf("unchanged frequency: next run %v (%v)", got.NextRunAt, err)
	}
	if kinds := j.enqueued(); len(kinds) != 0 {
		t.Fatalf("a new frequency started runs %v: the schedule alone decides", kinds)
	}
}

// StartsOnSave is what the form promises under the Активность switch: a new active task, or
// one switched on, imports at once; editing an active task leaves it to its schedule.
func TestStartsOnSave(t *testing.T) {
	t.Parallel()
	on, off := &store.Task{Active: true}, &store.Task{Active: false}
	for _, c := range []struct {
		name     string
		existing *store.Task
		active   bool
		want     bool
	}{
		{"new, active", nil, true, true},
		{"new, inactive", nil, false, false},
		{"active, stays on", on, true, false},
		{"active, switched off", on, false, false},
		{"inactive, switched on", off, true, true},
		{"inactive, stays off", off, false, false},
	} {
		if got := tasks.StartsOnSave(c.existing, c.active); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// Switching an inactive task on starts its import and schedules the next run one period on.
func TestUpdateSwitchedOnStartsAnImport(t *testing.T) {
	t.Parallel()
	// The use cases are called as the operator would: no request, no role.
	ctx := access.System(context.Background())
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc, j, task := service(t, &now, 3, now)
	off, on := false, true
	if _, err := svc.Update(ctx, task.AccountID, task.ID, tasks.Input{Active: &off}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Update(ctx, task.AccountID, task.ID, tasks.Input{Active: &on})
	if err != nil {
		t.Fatal(err)
	}
	if kinds := j.enqueued(); len(kinds) != 1 || kinds[0] != store.RunScheduled {
		t.Fatalf("switched on: enqueued %v, want one scheduled run", kinds)
	}
	if got.NextRunAt == nil || !got.NextRunAt.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("next run %v, want one period on", got.NextRunAt)
	}
}

// Validate names every broken rule of an input without saving it or asking RetailCRM.
func TestValidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc, _, task := service(t, &now, 1, now)
	empty, zero, bad, url, expr := "", 0, "2025-02-30", "ftp://shop.example", "totalSumm -"
	err := svc.Validate(ctx, task.AccountID, 0, tasks.Input{Name: &empty, FrequencyHours: &zero, BackfillFrom: &bad,
		RetailCRM: &tasks.RetailCRMInput{URL: &url}, Mapping: map[string]*string{"profit": &expr}})
	var inv *tasks.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("invalid input: %v", err)
	}
	var fields []string
	for _, f := range inv.Fields {
		fields = append(fields, f.Field)
	}
	want := []string{"name", "frequency_hours", "backfill_from", "retailcrm.url", "retailcrm.api_key", "mapping.profit"}
	if !slices.Equal(fields, want) {
		t.Fatalf("fields %v, want %v", fields, want)
	}
	three := 3
	if err := svc.Validate(ctx, task.AccountID, task.ID, tasks.Input{FrequencyHours: &three}); err != nil {
		t.Fatalf("a valid change of a task: %v", err)
	}
	if stored, _ := svc.Store.Task(ctx, task.AccountID, task.ID); stored.FrequencyHours != 1 {
		t.Fatalf("Validate saved the change: every %d h", stored.FrequencyHours)
	}
	if err := svc.Validate(ctx, task.AccountID, task.ID+1000, tasks.Input{}); !tasks.IsNotFound(err) {
		t.Fatalf("another task: %v", err)
	}
}

// What counts, the stores and the range are checked with the rest: a range that ends before it
// starts, no group at all, an empty code; group codes that are no RetailCRM group are named
// even before the task has read RetailCRM's reference.
func TestValidateCounting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc, _, task := service(t, &now, 1, now)
	from, to := "2026-02-01", "2026-01-31"
	err := svc.Validate(ctx, task.AccountID, task.ID, tasks.Input{BackfillFrom: &from, BackfillTo: &to,
		Counting: &tasks.CountingInput{StatusGroups: []string{}}, Sites: &[]string{" "}})
	var inv *tasks.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("invalid input: %v", err)
	}
	got := map[string]string{}
	for _, f := range inv.Fields {
		got[f.Field] = f.Msg.Code
	}
	want := map[string]string{"backfill_to": "backfill_to_before_from", "counting.status_groups": "counting_groups_empty", "sites": "code_invalid"}
	if !maps.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	err = svc.Validate(ctx, task.AccountID, task.ID, tasks.Input{Counting: &tasks.CountingInput{StatusGroups: []string{"complete", "paid"}}})
	if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Msg.Code != "status_group_unknown" || inv.Fields[0].Msg.Arg("code") != "paid" {
		t.Fatalf("an unknown group: %v", err)
	}
	if err := svc.Validate(ctx, task.AccountID, task.ID, tasks.Input{Counting: &tasks.CountingInput{ExcludeStatuses: []string{"no-call"}}}); err != nil {
		t.Fatalf("statuses left out of the default groups: %v", err)
	}
}
