package web

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/mapping"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type taskData struct {
	Task store.Task
	Runs []store.Run
	Run  *store.Run // the run shown in detail: ?run=, else the newest
	Live bool       // that run is queued or running: the page follows it
	// The run's issues: the first few in sight, the rest one click away.
	FirstIssues []issueView
	MoreIssues  []issueView
	// The task's and the shown run's messages in the visitor's language.
	Status   *fieldErr
	RunError *fieldErr
	Progress progress
	Back     string
	Counts   countsView
	// The RetailCRM trigger's URL ("" when it cannot be opened: a rotation makes a new one),
	// and how current the task's orders are.
	TriggerURL string
	Fresh      freshView
	// What the task keeps, and its mapping's history with one version compared to the current
	// mapping (?version=).
	PII       string
	Retention string
	Versions  []versionView
	Diff      *versionDiff
}

// versionView is one saved mapping of the task.
type versionView struct {
	Version int
	At, By  string // By: "" when the service saved it
	Current bool
	DiffURL string
}

// versionDiff compares a saved mapping with the current one, field by field (effective
// mappings: the defaults with the task's own choices); Problems say why it would not compile
// today (then it cannot be restored).
type versionDiff struct {
	Version  int
	Rows     []diffRow
	Problems []diffProblem
	Same     bool
}

type diffRow struct {
	Field     fieldName
	Then, Now string
}

type diffProblem struct {
	Field fieldName
	Err   *fieldErr
}

// fieldName is a mapping field by its title; a field today's rules do not know (in an old
// version) by its name, as data.
type fieldName struct {
	Label string
	Data  bool
}

func fieldNameOf(vw *view, name string) fieldName {
	if k := "field." + name; vw.p.Has(k) {
		return fieldName{Label: vw.T(k)}
	}
	return fieldName{Label: name, Data: true}
}

// freshView is a task's freshness in the visitor's words.
type freshView struct {
	AsOf        string // "14:05" today, else with the date; "" before any success
	Ago         string // "3 мин назад"
	LastSuccess string
	Cursor      string
	Requests    int64
	Pace        string
}

// countsView is what the task counts and which stores it reads, by RetailCRM's names.
type countsView struct {
	Default  bool
	Groups   string // names, comma-separated
	Excluded string
	Sites    string // "" for every store the key can read
}

func newCountsView(tc tasks.TaskCounting, t store.Task) countsView {
	name := func(code string, look func(*store.Reference, string) (string, bool)) string {
		if tc.Reference != nil {
			if n, ok := look(tc.Reference, code); ok && n != "" {
				return n
			}
		}
		return code
	}
	group := func(r *store.Reference, c string) (string, bool) { g, ok := r.Group(c); return g.Name, ok }
	status := func(r *store.Reference, c string) (string, bool) { s, ok := r.Status(c); return s.Name, ok }
	site := func(r *store.Reference, c string) (string, bool) { s, ok := r.Site(c); return s.Name, ok }
	v := countsView{Default: tc.Default}
	var parts []string
	for _, c := range tc.Counting.StatusGroups {
		parts = append(parts, name(c, group))
	}
	v.Groups = strings.Join(parts, ", ")
	parts = parts[:0]
	for _, c := range tc.Counting.ExcludeStatuses {
		parts = append(parts, name(c, status))
	}
	v.Excluded = strings.Join(parts, ", ")
	parts = parts[:0]
	for _, c := range t.Sites {
		parts = append(parts, name(c, site))
	}
	v.Sites = strings.Join(parts, ", ")
	return v
}

// progress is a running run's pace as first rendered; the page's script keeps it current
// from GET /api/v1/runs/{id} with the same arithmetic.
type progress struct {
	Percent    int
	HasPercent bool
	Rate       string // orders per second
	ETA        string
}

// runsShown bounds the history table; the API lists more.
const runsShown = 50

// issuesInSight is how many of a run's issues the page shows before "show the others".
const issuesInSight = 20

// task is the task page: its state, the chosen run with live progress and issues, and the
// run history.
func (h *Web) task(w http.ResponseWriter, r *http.Request, vw *view) {
	t, c, err := h.loadTask(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	runs, err := h.Store.Runs(r.Context(), t.AccountID, t.ID, runsShown)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	tc, err := h.Tasks.Counting(r.Context(), t)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := taskData{Task: t, Runs: runs, Back: taskPath(t, ""), Counts: newCountsView(tc, t)}
	if id, err := strconv.ParseInt(r.URL.Query().Get("run"), 10, 64); err == nil {
		run, err := h.Store.Run(r.Context(), t.AccountID, id)
		if err != nil || run.TaskID != t.ID {
			h.fail(w, r, vw, store.ErrNotFound)
			return
		}
		d.Run = &run
	} else if len(runs) > 0 {
		d.Run = &runs[0]
	}
	if !t.StatusMsg.IsZero() {
		d.Status = msgErr(vw, t.StatusMsg)
	}
	if d.Run != nil {
		all := issueViews(vw, d.Run.Issues)
		d.FirstIssues = all[:min(len(all), issuesInSight)]
		d.MoreIssues = all[len(d.FirstIssues):]
		if !d.Run.Error.IsZero() {
			d.RunError = msgErr(vw, d.Run.Error)
		}
	}
	// A task made before triggers existed gets its URL now; one sealed under a key this process
	// does not hold cannot be shown, and the page says so instead of failing.
	if u, err := h.Tasks.TriggerURL(r.Context(), &t, baseURL(r)); err == nil {
		d.TriggerURL = u
	} else if store.IsBusy(err) {
		h.fail(w, r, vw, err)
		return
	}
	f, err := h.Tasks.Freshness(r.Context(), t)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.Fresh = freshText(vw, f, c.Timezone, h.now())
	if err := h.memoryView(r, vw, &d, c.Timezone); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if d.Run != nil && !d.Run.Finished() {
		d.Live = true
		d.Progress = runProgress(vw, *d.Run, h.now())
		vw.Refresh = 5
	}
	vw.Title = t.Name
	vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: t.Name, Data: true})
	h.render(w, r, vw, "task.html", d)
}

// memoryView fills in what the task keeps of contacts and orders, and its mapping versions with
// the one ?version= asks for compared to the current mapping.
func (h *Web) memoryView(r *http.Request, vw *view, d *taskData, tz string) error {
	t := d.Task
	d.PII = vw.T("task.pii." + cmp.Or(t.PII, store.PIIKeep))
	if t.OrdersRetentionDays != nil {
		d.Retention = vw.p.Plural("days", int64(*t.OrdersRetentionDays))
	}
	versions, err := h.Tasks.MappingVersions(r.Context(), t.AccountID, t.ID)
	if err != nil {
		return err
	}
	want, _ := strconv.Atoi(r.URL.Query().Get("version"))
	for i, v := range versions {
		vv := versionView{Version: v.Version, At: whenText(vw.p, v.CreatedAt, tz), By: v.CreatedBy, Current: i == 0,
			DiffURL: taskPath(t, "?version="+strconv.Itoa(v.Version)+"#mappings")}
		d.Versions = append(d.Versions, vv)
		if v.Version != want || i == 0 {
			continue
		}
		diff := &versionDiff{Version: v.Version}
		then, now := tasks.EffectiveMapping(v.Mapping), tasks.EffectiveMapping(t.Mapping)
		for _, f := range mapping.Fields {
			if then[f.Name] != now[f.Name] {
				diff.Rows = append(diff.Rows, diffRow{Field: fieldNameOf(vw, f.Name), Then: then[f.Name], Now: now[f.Name]})
			}
		}
		for name := range then {
			if _, known := now[name]; !known {
				diff.Rows = append(diff.Rows, diffRow{Field: fieldNameOf(vw, name), Then: then[name]})
			}
		}
		diff.Same = len(diff.Rows) == 0
		if _, err := tasks.CompileMapping(v.Mapping); err != nil {
			var inv *tasks.InvalidError
			if !errors.As(err, &inv) {
				return err
			}
			for _, fe := range inv.Fields {
				diff.Problems = append(diff.Problems, diffProblem{Field: fieldNameOf(vw, strings.TrimPrefix(fe.Field, "mapping.")), Err: msgErr(vw, fe.Msg)})
			}
		}
		d.Diff = diff
	}
	return nil
}

// freshText words a task's freshness: the moment its orders are current as of, in the
// counter's zone (the time alone when it is today there), and how long ago that was.
func freshText(vw *view, f tasks.Freshness, tz string, now time.Time) freshView {
	fv := freshView{Cursor: f.Cursor, Requests: f.RequestsToday, Pace: vw.p.Number(strconv.FormatFloat(f.PaceRPS, 'f', -1, 64))}
	if f.AsOf != nil {
		fv.AsOf, fv.Ago = asOfText(vw, *f.AsOf, tz, now)
		fv.LastSuccess = whenText(vw.p, f.LastSuccessAt, tz)
	}
	return fv
}

// asOfText is "14:05" (or "05.12.2026 14:05" when it is not today in the zone) and "3 мин назад".
func asOfText(vw *view, at time.Time, tz string, now time.Time) (string, string) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	when := vw.p.Time(at, loc)
	if at.In(loc).Format(time.DateOnly) == now.In(loc).Format(time.DateOnly) {
		when = vw.p.Clock(at, loc)
	}
	return when, vw.p.Ago(max(now.Sub(at), 0))
}

func runProgress(vw *view, r store.Run, now time.Time) progress {
	var p progress
	if r.ProgressTotal > 0 {
		p.HasPercent = true
		p.Percent = int(min(100, r.ProgressDone*100/r.ProgressTotal))
	}
	if r.StartedAt == nil {
		return p
	}
	elapsed := now.Sub(*r.StartedAt).Seconds()
	if elapsed <= 0 {
		return p
	}
	p.Rate = vw.T("progress.rate", vw.p.Number(strconv.FormatFloat(float64(r.Counts.Fetched)/elapsed, 'f', 1, 64)))
	if r.ProgressTotal > 0 && r.ProgressDone > 0 && r.ProgressDone < r.ProgressTotal {
		left := time.Duration(elapsed * float64(r.ProgressTotal-r.ProgressDone) / float64(r.ProgressDone) * float64(time.Second))
		p.ETA = etaText(vw, left)
	}
	return p
}

func etaText(vw *view, d time.Duration) string {
	switch {
	case d < time.Minute:
		return vw.T("progress.eta_seconds", int(d.Seconds())+1)
	case d < time.Hour:
		return vw.T("progress.eta_minutes", int(d.Minutes()+0.5))
	}
	return vw.T("progress.eta_hours", int(d.Hours()), int(d.Minutes())%60)
}

// loadTask reads {id} as one of the visitor's tasks, with its counter in the navigation.
func (h *Web) loadTask(r *http.Request, vw *view) (store.Task, store.Counter, error) {
	id, err := pathID(r)
	if err != nil {
		return store.Task{}, store.Counter{}, err
	}
	acc := vw.Visitor.User.AccountID
	t, err := h.Store.Task(r.Context(), acc, id)
	if err != nil {
		return store.Task{}, store.Counter{}, err
	}
	c, err := h.Store.Counter(r.Context(), acc, t.CounterID)
	if err != nil {
		return store.Task{}, store.Counter{}, err
	}
	vw.Counter = &c
	vw.Section = "settings"
	return t, c, nil
}

func taskPath(t store.Task, rest string) string {
	return "/imports/" + strconv.FormatInt(t.ID, 10) + rest
}

// rotateTrigger gives the task a new trigger URL; the old one stops working at once.
func (h *Web) rotateTrigger(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	t, err := h.Tasks.RotateTrigger(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, taskPath(t, "?done=trigger_rotated#trigger"))
}
