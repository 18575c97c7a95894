package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/counting"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// The «Новое подключение RetailCRM» form, also the edit form of a task. Without JavaScript
// every button posts the whole form and the page comes back with the result (check, preview,
// errors next to their fields); with it, check and preview go through the JSON API in place.

// exprChoice is the select value that means "my own expression" (the text input beside it).
const exprChoice = "__expr"

type taskForm struct {
	New          bool
	TaskID       int64
	TaskName     string // as saved (the heading of the edit form)
	Action       string
	Name         string
	Active       bool
	Type         string
	Frequency    string
	URL          string
	KeyHint      string // the stored key's hint (editing) or the typed key's, carried sealed
	KeySealed    string // a typed key, sealed to this session, so a re-rendered form keeps it
	KeyKept      bool   // a key is known without typing it again
	BackfillFrom string
	BackfillTo   string
	// What the task keeps: pii as chosen and as saved (switching away from keep is explained),
	// the retention in days as typed ("" keeps orders); RetentionSent: the form had the field
	// (a form without it leaves the retention as it is).
	PII, SavedPII string
	Retention     string
	RetentionSent bool
	// What counts and which stores: RetailCRM's reference as the form knows it (nil before a
	// check of a new connection), the choice, and its layout.
	Reference     *formReference
	ReferenceJSON string
	Counting      countingState
	CountGroups   []countGroupRow
	SiteRows      []siteRow
	// Estimate is what the first run reads, in words («≈ 84 000 заказов, около 2 минут»).
	Estimate template.HTML
	// Whether saving starts an import (tasks.StartsOnSave) with the Активность switch on and
	// off: the note says the one the switch shows, also when the script flips it.
	StartsIfOn, StartsIfOff bool
	Rows                    []mapRow
	FieldNames              []previewField // the preview's columns, for the skeleton the script fills
	CustomFields            []tasks.CustomField
	CustomJSON              string
	Check                   *tasks.CheckResult
	Preview                 *previewView
	Errors                  map[string]*fieldErr // by the use case's field names: name, retailcrm.url, mapping.<field>, …
	Summary                 []formError          // every error, linked to its field, at the top of the form
}

// StartsOnSave tells whether saving the form as it stands starts an import.
func (f *taskForm) StartsOnSave() bool {
	if f.Active {
		return f.StartsIfOn
	}
	return f.StartsIfOff
}

// fieldErr is a message shown next to a field: its words, and the verbatim detail (RetailCRM's
// answer, an expression's diagnostic) shown as code.
type fieldErr struct {
	Text   template.HTML // the message, its data marked (view.Msg)
	Detail string
}

func msgErr(vw *view, m locale.Message) *fieldErr {
	return &fieldErr{Text: vw.Msg(m), Detail: m.Detail}
}

// textErr is a field error in the UI's own words.
func textErr(vw *view, key string, args ...any) *fieldErr {
	return &fieldErr{Text: vw.Text(key, args...)}
}

type formError struct {
	Anchor  string
	Message template.HTML
}

type mapRow struct {
	Field     string
	Required  bool
	ID        string
	Default   string
	Value     string // the effective expression; "" = unmapped
	IsExpr    bool   // Value is not one of the choices: the text input holds it
	Suggested bool   // Value came from the connection check's suggestion
	Options   []mapOption
	Err       *fieldErr
}

type mapOption struct {
	Value, Label, Group string
	Selected            bool
}

// fieldAnchor is the id of the input a service field name belongs to.
func fieldAnchor(field string) string {
	switch {
	case field == "name":
		return "f-name"
	case field == "type":
		return "f-type"
	case field == "frequency_hours":
		return "f-frequency"
	case field == "retailcrm.url" || field == "retailcrm" || field == "url":
		return "f-url"
	case field == "retailcrm.api_key" || field == "api_key":
		return "f-key"
	case field == "backfill_from":
		return "f-backfill"
	case field == "backfill_to":
		return "f-backfill-to"
	case field == "pii":
		return "f-pii"
	case field == "orders_retention_days":
		return "f-retention"
	case strings.HasPrefix(field, "counting."):
		return "counting"
	case field == "sites":
		return "sites-list"
	case strings.HasPrefix(field, "mapping."):
		return "map-" + strings.TrimPrefix(field, "mapping.")
	}
	return "task-form"
}

// taskForm serves both GET (the empty or the task's form) and POST (check, preview, save).
func (h *Web) taskForm(w http.ResponseWriter, r *http.Request, vw *view) {
	var task *store.Task
	var c store.Counter
	var err error
	if strings.HasPrefix(r.URL.Path, "/imports/") {
		var t store.Task
		t, c, err = h.loadTask(r, vw)
		task = &t
	} else {
		c, err = h.loadCounter(r, vw)
		vw.Section = "settings"
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	// The form is for those who may save it: a new connection gives the service a key.
	perms := []access.Permission{access.EditTasks}
	if task == nil {
		perms = append(perms, access.SetKeys)
	}
	if !h.may(w, r, vw, perms...) {
		return
	}
	f := &taskForm{New: task == nil, Errors: map[string]*fieldErr{}}
	f.StartsIfOn, f.StartsIfOff = tasks.StartsOnSave(task, true), tasks.StartsOnSave(task, false)
	if task == nil {
		f.Action = counterPath(c, "/imports/new")
		vw.Title = vw.T("form.new_title")
		vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: vw.T("form.new_title")})
	} else {
		f.TaskID, f.TaskName = task.ID, task.Name
		f.Action = taskPath(*task, "/edit")
		vw.Title = vw.T("form.edit_title", task.Name)
		vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: task.Name, Href: taskPath(*task, ""), Data: true}, crumb{Label: vw.T("task.edit")})
	}
	if r.Method == http.MethodGet {
		if err := h.fillFromTask(r, f, task); err != nil {
			h.fail(w, r, vw, err)
			return
		}
		h.buildRows(vw, f, taskSpec(task))
		buildCounting(f)
		h.render(w, r, vw, "task_form.html", f)
		return
	}

	spec, key := h.readForm(r, vw, f, task)
	if err := h.countingFromForm(r, f, task); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	switch r.PostFormValue("action") {
	case "check":
		h.formCheck(r, vw, f, task, key)
	case "preview":
		h.formPreview(r, vw, f, c, task, spec, key)
	case "estimate":
		h.formEstimate(r, vw, f, task, key)
	default:
		if h.formSave(w, r, vw, f, c, task, spec, key) {
			return
		}
	}
	if f.Errors["retailcrm.api_key"] != nil && f.KeySealed != "" {
		// A key that was refused is not worth carrying: the user types the right one.
		f.KeySealed, f.KeyHint, f.KeyKept = "", "", false
		if task != nil {
			f.KeyHint, f.KeyKept = task.CRMKeyHint, true
		}
	}
	h.finishErrors(vw, f)
	h.buildRows(vw, f, spec)
	buildCounting(f)
	status := http.StatusOK
	if len(f.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	h.renderStatus(w, r, vw, status, "task_form.html", f)
}

// fillFromTask starts the form from the task, or from the defaults of a new task.
func (h *Web) fillFromTask(r *http.Request, f *taskForm, t *store.Task) error {
	if t == nil {
		f.Active, f.Type, f.Frequency = true, tasks.TypeRetailCRM, strconv.Itoa(tasks.DefaultFrequency)
		f.PII, f.SavedPII = store.PIIKeep, store.PIIKeep
		f.Counting = countingFromTask(counting.Effective(nil, nil), nil)
		return nil
	}
	f.PII = cmp.Or(t.PII, store.PIIKeep)
	f.SavedPII = f.PII
	if t.OrdersRetentionDays != nil {
		f.Retention = strconv.Itoa(*t.OrdersRetentionDays)
	}
	f.Name, f.Active, f.Type, f.Frequency = t.Name, t.Active, t.Type, strconv.Itoa(t.FrequencyHours)
	f.URL, f.KeyHint, f.KeyKept, f.BackfillFrom, f.BackfillTo = t.CRMURL, t.CRMKeyHint, true, t.BackfillFrom, t.BackfillTo
	return h.taskCounting(r, f, t)
}

// taskCounting starts the choice of what counts from the task's own, laid out over the
// reference it kept.
func (h *Web) taskCounting(r *http.Request, f *taskForm, t *store.Task) error {
	tc, err := h.Tasks.Counting(r.Context(), *t)
	if err != nil {
		return err
	}
	f.Counting = countingFromTask(tc.Counting, t.Sites)
	if tc.Reference != nil && f.Reference == nil {
		f.Reference = keptFormReference(tc.Reference)
	}
	return nil
}

// countingFromForm reads the choice of what counts as posted, laid out over the reference the
// form carries or the task kept; a form that did not show it keeps the task's (or the default).
func (h *Web) countingFromForm(r *http.Request, f *taskForm, t *store.Task) error {
	readReference(r, f)
	var own countingState
	switch {
	case t != nil:
		if err := h.taskCounting(r, f, t); err != nil {
			return err
		}
		own = f.Counting
	default:
		own = countingFromTask(counting.Effective(nil, nil), nil)
	}
	f.Counting = countingState{}
	readCounting(r, f)
	if !f.Counting.Shown {
		f.Counting = own
	}
	return nil
}

// readForm reads the posted form into f and returns the mapping as typed (field → expression,
// "" = unmapped) and the key to use ("" = the stored one, when editing).
func (h *Web) readForm(r *http.Request, vw *view, f *taskForm, task *store.Task) (map[string]string, string) {
	f.Name = strings.TrimSpace(r.PostFormValue("name"))
	f.Active = r.PostFormValue("active") == "true"
	f.Type = r.PostFormValue("type")
	f.Frequency = strings.TrimSpace(r.PostFormValue("frequency_hours"))
	f.URL = strings.TrimSpace(r.PostFormValue("retailcrm_url"))
	f.BackfillFrom = strings.TrimSpace(r.PostFormValue("backfill_from"))
	f.SavedPII = store.PIIKeep
	if task != nil {
		f.SavedPII = cmp.Or(task.PII, store.PIIKeep)
	}
	f.PII = cmp.Or(r.PostFormValue("pii"), f.SavedPII)
	_, f.RetentionSent = r.PostForm["orders_retention_days"]
	f.Retention = strings.TrimSpace(r.PostFormValue("orders_retention_days"))
	if raw := r.PostFormValue("custom_fields"); raw != "" {
		// Carried from an earlier check in this form; only used to offer choices, whose
		// expressions are compiled like any typed one.
		_ = json.Unmarshal([]byte(raw), &f.CustomFields)
	}
	keys := h.Tasks.Keys
	session := vw.Visitor.Session.ID
	key := strings.TrimSpace(r.PostFormValue("retailcrm_api_key"))
	if key == "" {
		if sealed := r.PostFormValue("key_sealed"); sealed != "" {
			key = keys.OpenForm(session, sealed)
		}
	}
	if key != "" {
		keys.Remember(key)
		if sealed, hint, err := keys.SealForm(session, key); err == nil {
			f.KeySealed, f.KeyHint, f.KeyKept = sealed, hint, true
		}
	} else if task != nil {
		f.KeyHint, f.KeyKept = task.CRMKeyHint, true
	}
	spec := map[string]string{}
	for _, fi := range mapping.Fields {
		choice := r.PostFormValue("map_" + fi.Name)
		expr := strings.TrimSpace(r.PostFormValue("expr_" + fi.Name))
		switch {
		case choice == exprChoice:
			spec[fi.Name] = expr
		case expr != "" && expr != choice:
			// Without JavaScript both inputs are visible; which one was meant is the user's
			// to say, not ours to guess.
			spec[fi.Name] = expr
			f.Errors["mapping."+fi.Name] = textErr(vw, "form.err.expr_conflict")
		default:
			spec[fi.Name] = strings.TrimSpace(choice)
		}
	}
	return spec, key
}

// taskSpec is the mapping a task imports with: the defaults with its own choices over them.
func taskSpec(t *store.Task) map[string]string {
	if t == nil {
		return tasks.EffectiveMapping(nil)
	}
	return tasks.EffectiveMapping(t.Mapping)
}

// checkInput is the connection the form names: the typed key, or (editing, left blank) the
// task's stored one, which the use case opens for this request only.
func checkInput(f *taskForm, task *store.Task, key string) tasks.CheckInput {
	in := tasks.CheckInput{URL: f.URL, APIKey: key}
	if task != nil {
		in.TaskID = task.ID
	}
	return in
}

func (h *Web) formCheck(r *http.Request, vw *view, f *taskForm, task *store.Task, key string) {
	res, err := h.Tasks.Check(r.Context(), vw.Visitor.User.AccountID, checkInput(f, task, key))
	if err != nil {
		h.serviceError(vw, f, err)
		return
	}
	f.Check = res
	f.CustomFields = res.CustomFields
	f.Reference = referenceOf(res)
	// What the first run reads is worth knowing as soon as the key works.
	h.formEstimate(r, vw, f, task, key)
}

// formEstimate says how many orders the first run reads and how long it takes.
func (h *Web) formEstimate(r *http.Request, vw *view, f *taskForm, task *store.Task, key string) {
	in := tasks.EstimateInput{RetailCRM: tasks.RetailCRMInput{URL: &f.URL}, BackfillFrom: f.BackfillFrom, BackfillTo: f.BackfillTo}
	if key != "" {
		in.RetailCRM.APIKey = &key
	}
	if task != nil {
		in.TaskID = task.ID
	}
	if sites := sitesInput(f); sites != nil {
		in.Sites = *sites
	}
	e, err := h.Tasks.Estimate(r.Context(), vw.Visitor.User.AccountID, in)
	if err != nil {
		h.serviceError(vw, f, err)
		return
	}
	f.Estimate = vw.Msg(tasks.EstimateText(e))
}

func (h *Web) formPreview(r *http.Request, vw *view, f *taskForm, c store.Counter, task *store.Task, spec map[string]string, key string) {
	if len(f.Errors) > 0 {
		return
	}
	in := tasks.PreviewInput{RetailCRM: tasks.RetailCRMInput{URL: &f.URL}, CounterID: c.ID, Limit: previewSize,
		Mapping: specInput(spec)}
	if key != "" {
		in.RetailCRM.APIKey = &key
	}
	if task != nil {
		in.TaskID = task.ID
	}
	p, err := h.Tasks.Preview(r.Context(), vw.Visitor.User.AccountID, in)
	if err != nil {
		h.serviceError(vw, f, err)
		return
	}
	f.Preview = newPreviewView(vw, p)
}

// formSave saves through the same use case as the API; it answers true when it redirected.
func (h *Web) formSave(w http.ResponseWriter, r *http.Request, vw *view, f *taskForm, c store.Counter, task *store.Task, spec map[string]string, key string) bool {
	// A number the browser could not send as one reaches the rules as 0, which they refuse
	// with their own words.
	freq, _ := strconv.Atoi(f.Frequency)
	in := tasks.Input{Name: &f.Name, Active: &f.Active, Type: &f.Type, FrequencyHours: &freq,
		RetailCRM: &tasks.RetailCRMInput{URL: &f.URL}, Mapping: specInput(spec), BackfillFrom: &f.BackfillFrom, BackfillTo: &f.BackfillTo,
		Counting: countingInput(f), Sites: sitesInput(f), PII: &f.PII}
	if f.RetentionSent {
		in.OrdersRetentionDays = tasks.OptionalDays{Set: true}
		if f.Retention != "" {
			// Text that is not a whole number reaches the rules as 0, which they refuse with
			// their own words.
			days, _ := strconv.Atoi(f.Retention)
			in.OrdersRetentionDays = tasks.Days(days)
		}
	}
	if key != "" {
		in.RetailCRM.APIKey = &key
	}
	acc := vw.Visitor.User.AccountID
	if len(f.Errors) > 0 {
		// The form is not saved for a reason of its own; the rules still name whatever else
		// is wrong, so that everything is fixed in one go.
		var id int64
		if task != nil {
			id = task.ID
		}
		if err := h.Tasks.Validate(r.Context(), acc, id, in); err != nil {
			h.serviceError(vw, f, err)
		}
		return false
	}
	var saved store.Task
	var err error
	if task == nil {
		saved, err = h.Tasks.Create(r.Context(), acc, c.ID, in)
	} else {
		saved, err = h.Tasks.Update(r.Context(), acc, task.ID, in)
	}
	if errors.Is(err, access.ErrForbidden) {
		// A key typed by someone whose role may not give one.
		h.fail(w, r, vw, err)
		return true
	}
	if err != nil && saved.ID == 0 {
		h.serviceError(vw, f, err)
		var inv *tasks.InvalidError
		if errors.As(err, &inv) && f.Errors["retailcrm.url"] == nil && f.Errors["retailcrm.api_key"] == nil && f.URL != "" {
			// Say everything at once: whether RetailCRM takes the key too, not only after the
			// other fields are fixed.
			h.formCheck(r, vw, f, task, key)
		}
		return false
	}
	if err != nil {
		// Saved, but starting its run failed: the schedule picks it up; say so in the log.
		h.Log.Error("import task saved but its run did not start", "task_id", saved.ID, "error", err)
	}
	redirect(w, r, taskPath(saved, "?done=task_saved"))
	return true
}

// specInput turns the form's mapping into the use case's: a field left at its default is
// not stored as an override, so it follows the default.
func specInput(spec map[string]string) map[string]*string {
	def := mapping.Default()
	out := make(map[string]*string, len(spec))
	for field, expr := range spec {
		if expr == def[field] {
			out[field] = nil
			continue
		}
		e := expr
		out[field] = &e
	}
	return out
}

// serviceError places an error of the use case next to its field, in the visitor's language:
// every broken rule, or what RetailCRM answered. Anything else is a fault of ours.
func (h *Web) serviceError(vw *view, f *taskForm, err error) {
	var inv *tasks.InvalidError
	var ce *tasks.CRMError
	switch {
	case errors.As(err, &inv):
		for _, fe := range inv.Fields {
			if f.Errors[fe.Field] == nil {
				f.Errors[fe.Field] = msgErr(vw, fe.Msg)
			}
		}
	case errors.As(err, &ce):
		f.Errors[ce.Field] = msgErr(vw, ce.Msg)
	case tasks.IsNotFound(err):
		f.Errors["form"] = textErr(vw, "error.notfound.text")
	case errors.Is(err, access.ErrForbidden):
		f.Errors["form"] = textErr(vw, "error.forbidden.text")
	default:
		h.Log.Error("import task form", "error", err)
		f.Errors["form"] = textErr(vw, "error.internal.text")
	}
}

// finishErrors lists the errors in the form's order for the summary at its top.
func (h *Web) finishErrors(vw *view, f *taskForm) {
	order := []string{"form", "name", "type", "frequency_hours", "retailcrm", "retailcrm.url", "url", "retailcrm.api_key", "api_key", "backfill_from",
		"backfill_to", "counting.status_groups", "counting.exclude_statuses", "sites", "pii", "orders_retention_days"}
	for _, fi := range mapping.Fields {
		order = append(order, "mapping."+fi.Name)
	}
	seen := map[string]bool{}
	for _, k := range order {
		if e, ok := f.Errors[k]; ok {
			f.Summary = append(f.Summary, formError{Anchor: fieldAnchor(k), Message: e.Text})
			seen[k] = true
		}
	}
	for _, k := range sortedKeys(f.Errors) {
		if !seen[k] {
			f.Summary = append(f.Summary, formError{Anchor: fieldAnchor(k), Message: f.Errors[k].Text})
		}
	}
}

// buildRows lays out the mapping table: for each tracker field its choices (RetailCRM's
// order fields, the account's custom fields), the current value selected, or the text of an
// expression.
func (h *Web) buildRows(vw *view, f *taskForm, spec map[string]string) {
	def := mapping.Default()
	// A custom field the mapping already uses stays a choice even before a check has listed
	// the account's fields (editing): named by its code until RetailCRM tells its name.
	for _, fi := range mapping.Fields {
		if code, ok := customFieldCode(spec[fi.Name]); ok && !hasCustomField(f.CustomFields, code) {
			f.CustomFields = append(f.CustomFields, tasks.CustomField{Code: code})
		}
	}
	infos := make([]mapping.CustomFieldInfo, 0, len(f.CustomFields))
	for _, cf := range f.CustomFields {
		infos = append(infos, mapping.CustomFieldInfo{Code: cf.Code, Name: cf.Name, Type: cf.Type})
	}
	if b, err := json.Marshal(f.CustomFields); err == nil && len(f.CustomFields) > 0 {
		f.CustomJSON = string(b)
	}
	choices := mapping.Choices(infos)
	var suggestions map[string][]string
	if f.Check != nil {
		suggestions = f.Check.Suggestions
	}
	f.Rows, f.FieldNames = f.Rows[:0], previewFields()
	for _, fi := range mapping.Fields {
		row := mapRow{Field: fi.Name, Required: fi.Required, ID: "map-" + fi.Name, Default: def[fi.Name],
			Value: spec[fi.Name], Err: f.Errors["mapping."+fi.Name]}
		if row.Value == "" && len(suggestions[fi.Name]) > 0 {
			row.Value, row.Suggested = suggestions[fi.Name][0], true
		}
		matched := row.Value == "" && !fi.Required
		if !fi.Required {
			row.Options = append(row.Options, mapOption{Value: "", Label: vw.T("form.unmapped"), Selected: row.Value == ""})
		}
		for _, ch := range choices {
			label := vw.T(ch.Label)
			if ch.Group == "custom" {
				// The check names the account's custom fields; until then a field the mapping
				// uses is named by its code.
				label = vw.T(ch.Label, customName(f.CustomFields, ch.Expr))
			}
			if ch.Expr == row.Default {
				label = vw.T("form.default_choice", label)
			}
			sel := ch.Expr == row.Value
			matched = matched || sel
			row.Options = append(row.Options, mapOption{Value: ch.Expr, Label: label, Group: ch.Group, Selected: sel})
		}
		row.IsExpr = !matched
		row.Options = append(row.Options, mapOption{Value: exprChoice, Label: vw.T("form.own_expr"), Selected: row.IsExpr})
		f.Rows = append(f.Rows, row)
	}
}

// customFieldCode recognises a plain custom field path: customFields.code or
// customFields["code"].
func customFieldCode(expr string) (string, bool) {
	if m := customPath.FindStringSubmatch(expr); m != nil {
		if m[1] != "" {
			return m[1], true
		}
		if code, err := strconv.Unquote(m[2]); err == nil && code != "" {
			return code, true
		}
	}
	return "", false
}

var customPath = regexp.MustCompile(`^customFields(?:\.([\p{L}_][\p{L}\p{N}_]*)|\[("(?:[^"\\]|\\.)*")\])$`)

func hasCustomField(fields []tasks.CustomField, code string) bool {
	for _, cf := range fields {
		if cf.Code == code {
			return true
		}
	}
	return false
}

// customName is a custom field's name for its choice's label (the code when it has none).
func customName(fields []tasks.CustomField, expr string) string {
	for _, cf := range fields {
		if expr == "customFields."+cf.Code || expr == "customFields["+strconv.Quote(cf.Code)+"]" {
			if cf.Name != "" {
				return cf.Name
			}
			return cf.Code
		}
	}
	return expr
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
