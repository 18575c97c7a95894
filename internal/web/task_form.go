package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"orderimport/internal/importer"
	"orderimport/internal/imports"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// The «Новое подключение RetailCRM» form, also the edit form of a task. Without JavaScript
// every button posts the whole form and the page comes back with the result (check, preview,
// errors next to their fields); with it, check and preview go through the JSON API in place.

// exprChoice is the select value that means "my own expression" (the text input beside it).
const exprChoice = "__expr"

type taskForm struct {
	New          bool
	TaskID       int64
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
	Rows         []mapRow
	FieldNames   []string
	CustomFields []imports.CustomField
	CustomJSON   string
	Check        *imports.CheckResult
	Preview      *previewView
	Errors       map[string]string // by the service's field names: name, retailcrm.url, mapping.<field>, …
	Summary      []formError       // every error, linked to its field, at the top of the form
}

type formError struct {
	Anchor  string
	Message string
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
	Err       string
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
	f := &taskForm{New: task == nil, Errors: map[string]string{}}
	if task == nil {
		f.Action = counterPath(c, "/imports/new")
		vw.Title = vw.T("form.new_title")
		vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: vw.T("form.new_title")})
	} else {
		f.TaskID = task.ID
		f.Action = taskPath(*task, "/edit")
		vw.Title = vw.T("form.edit_title", task.Name)
		vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: task.Name, Href: taskPath(*task, "")}, crumb{Label: vw.T("task.edit")})
	}
	if r.Method == http.MethodGet {
		h.fillFromTask(f, task)
		h.buildRows(vw, f, taskSpec(task))
		h.render(w, r, vw, "task_form.html", f)
		return
	}

	spec, key := h.readForm(r, vw, f, task)
	switch r.PostFormValue("action") {
	case "check":
		h.formCheck(r, vw, f, task, key)
	case "preview":
		h.formPreview(r, vw, f, c, task, spec, key)
	default:
		if h.formSave(w, r, vw, f, c, task, spec, key) {
			return
		}
	}
	if f.Errors["retailcrm.api_key"] != "" && f.KeySealed != "" {
		// A key that was refused is not worth carrying: the user types the right one.
		f.KeySealed, f.KeyHint, f.KeyKept = "", "", false
		if task != nil {
			f.KeyHint, f.KeyKept = task.CRMKeyHint, true
		}
	}
	h.finishErrors(vw, f)
	h.buildRows(vw, f, spec)
	status := http.StatusOK
	if len(f.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	h.renderStatus(w, r, vw, status, "task_form.html", f)
}

// fillFromTask starts the form from the task, or from the contract's defaults.
func (h *Web) fillFromTask(f *taskForm, t *store.Task) {
	if t == nil {
		f.Active, f.Type, f.Frequency = true, "retailcrm", "1"
		return
	}
	f.Name, f.Active, f.Type, f.Frequency = t.Name, t.Active, t.Type, strconv.Itoa(t.FrequencyHours)
	f.URL, f.KeyHint, f.KeyKept, f.BackfillFrom = t.CRMURL, t.CRMKeyHint, true, t.BackfillFrom
}

// formKeyAAD binds a typed key carried through the form to this session: the sealed value is
// useless in any other session or for anything else.
func formKeyAAD(v *visitor) []byte {
	return []byte("orderimport web form key\x00" + v.Session.ID)
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
	if raw := r.PostFormValue("custom_fields"); raw != "" {
		// Carried from an earlier check in this form; only used to offer choices, whose
		// expressions are compiled like any typed one.
		_ = json.Unmarshal([]byte(raw), &f.CustomFields)
	}
	key := strings.TrimSpace(r.PostFormValue("retailcrm_api_key"))
	if key == "" {
		if sealed := r.PostFormValue("key_sealed"); sealed != "" {
			if b, err := h.Imports.Keyring.Open(sealed, formKeyAAD(vw.Visitor)); err == nil {
				key = string(b)
			}
		}
	}
	if key != "" {
		if sealed, err := h.Imports.Keyring.Seal([]byte(key), formKeyAAD(vw.Visitor)); err == nil {
			f.KeySealed, f.KeyHint, f.KeyKept = sealed, secret.Hint(key), true
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
			f.Errors["mapping."+fi.Name] = vw.T("form.err.expr_conflict")
		default:
			spec[fi.Name] = strings.TrimSpace(choice)
		}
	}
	return spec, key
}

// taskSpec is the mapping a task imports with: the defaults with its own choices over them.
func taskSpec(t *store.Task) map[string]string {
	spec := mapping.Default()
	if t == nil || t.Mapping == "" {
		return spec
	}
	var own map[string]string
	if json.Unmarshal([]byte(t.Mapping), &own) == nil {
		for k, v := range own {
			spec[k] = v
		}
	}
	return spec
}

// validate checks what the form can check by itself, in the user's language; the service
// checks again (and against RetailCRM) when saving.
func (h *Web) validate(vw *view, f *taskForm, task *store.Task, spec map[string]string, key string) {
	if f.Name == "" {
		f.Errors["name"] = vw.T("form.err.name_required")
	} else if len([]rune(f.Name)) > imports.MaxNameLen {
		f.Errors["name"] = vw.T("form.err.name_long", imports.MaxNameLen)
	}
	if n, err := strconv.Atoi(f.Frequency); err != nil || n < 1 || n > imports.MaxFrequency {
		f.Errors["frequency_hours"] = vw.T("form.err.frequency", imports.MaxFrequency)
	}
	if f.Type != "retailcrm" {
		f.Errors["type"] = vw.T("form.err.type")
	}
	h.validateConnection(vw, f, task, key)
	h.validateMapping(vw, f, spec)
}

func (h *Web) validateConnection(vw *view, f *taskForm, task *store.Task, key string) {
	if f.URL == "" {
		f.Errors["retailcrm.url"] = vw.T("form.err.url_required")
	}
	switch {
	case key != "":
	case task == nil:
		f.Errors["retailcrm.api_key"] = vw.T("form.err.key_required")
	case f.URL != "" && f.URL != task.CRMURL:
		f.Errors["retailcrm.api_key"] = vw.T("form.err.key_again")
	}
}

// validateMapping compiles the mapping and puts every field's problem next to that field.
func (h *Web) validateMapping(vw *view, f *taskForm, spec map[string]string) {
	for _, fi := range mapping.Fields {
		if fi.Required && spec[fi.Name] == "" {
			f.Errors["mapping."+fi.Name] = vw.T("form.err.mapping_required")
		}
	}
	_, err := mapping.Compile(spec)
	var ce *mapping.CompileError
	if errors.As(err, &ce) {
		for _, fe := range ce.Errors {
			k := "mapping." + fe.Field
			if _, done := f.Errors[k]; done {
				continue
			}
			if fe.Line > 0 {
				f.Errors[k] = vw.T("form.err.expr_at", fe.Line, fe.Column, fe.Message)
			} else {
				f.Errors[k] = vw.T("form.err.expr", fe.Message)
			}
		}
	}
}

// connectionKey is the key to talk to RetailCRM with: the typed one, else (editing, same
// URL) the stored one, opened for this request only.
func (h *Web) connectionKey(f *taskForm, task *store.Task, typed string) (string, error) {
	if typed != "" || task == nil || f.URL != task.CRMURL {
		return typed, nil
	}
	b, err := h.Imports.Keyring.Open(task.CRMKeySealed, importer.KeyAAD(task.AccountID))
	if err != nil {
		return "", fmt.Errorf("web: open the stored RetailCRM key of task %d: %w", task.ID, err)
	}
	return string(b), nil
}

func (h *Web) formCheck(r *http.Request, vw *view, f *taskForm, task *store.Task, typed string) {
	h.validateConnection(vw, f, task, typed)
	if f.Errors["retailcrm.url"] != "" || f.Errors["retailcrm.api_key"] != "" {
		return
	}
	key, err := h.connectionKey(f, task, typed)
	if err != nil {
		f.Errors["retailcrm.api_key"] = vw.T("form.err.key_unreadable")
		h.Log.Error("check connection", "error", err)
		return
	}
	res, err := h.Imports.Check(r.Context(), f.URL, key)
	if err != nil {
		h.serviceError(vw, f, err)
		return
	}
	f.Check = res
	f.CustomFields = res.CustomFields
}

func (h *Web) formPreview(r *http.Request, vw *view, f *taskForm, c store.Counter, task *store.Task, spec map[string]string, key string) {
	h.validateConnection(vw, f, task, key)
	h.validateMapping(vw, f, spec)
	if len(f.Errors) > 0 {
		return
	}
	in := imports.PreviewInput{RetailCRM: imports.RetailCRMInput{URL: &f.URL}, CounterID: c.ID, Limit: previewSize,
		Mapping: specInput(spec)}
	if key != "" {
		in.RetailCRM.APIKey = &key
	}
	if task != nil && f.URL == task.CRMURL {
		in.TaskID = task.ID
	}
	p, err := h.Imports.Preview(r.Context(), vw.Visitor.User.AccountID, in)
	if err != nil {
		h.serviceError(vw, f, err)
		return
	}
	f.Preview = newPreviewView(p)
}

// formSave saves through the same use case as the API; it answers true when it redirected.
func (h *Web) formSave(w http.ResponseWriter, r *http.Request, vw *view, f *taskForm, c store.Counter, task *store.Task, spec map[string]string, key string) bool {
	h.validate(vw, f, task, spec, key)
	if len(f.Errors) > 0 {
		// Say everything at once: whether RetailCRM takes the key too, not only after the
		// other fields are fixed.
		if f.Errors["retailcrm.url"] == "" && f.Errors["retailcrm.api_key"] == "" {
			h.formCheck(r, vw, f, task, key)
		}
		return false
	}
	freq, _ := strconv.Atoi(f.Frequency)
	in := imports.Input{Name: &f.Name, Active: &f.Active, Type: &f.Type, FrequencyHours: &freq,
		RetailCRM: &imports.RetailCRMInput{URL: &f.URL}, Mapping: specInput(spec), BackfillFrom: &f.BackfillFrom}
	if key != "" {
		in.RetailCRM.APIKey = &key
	}
	acc := vw.Visitor.User.AccountID
	var saved store.Task
	var err error
	if task == nil {
		saved, err = h.Imports.Create(r.Context(), acc, c.ID, in)
	} else {
		saved, err = h.Imports.Update(r.Context(), acc, task.ID, in)
	}
	if err != nil && saved.ID == 0 {
		h.serviceError(vw, f, err)
		return false
	}
	if err != nil {
		// Saved, but starting its run failed: the schedule picks it up; say so in the log.
		h.Log.Error("import task saved but its run did not start", "task_id", saved.ID, "error", err)
	}
	redirect(w, r, taskPath(saved, "?done=task_saved"))
	return true
}

// specInput turns the form's mapping into the service's: a field left at its default is
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

// serviceError places an error of the service next to its field, in words: what RetailCRM
// answered, or why a value was refused. Anything else is a fault of ours.
func (h *Web) serviceError(vw *view, f *taskForm, err error) {
	var fe *imports.FieldError
	var ce *imports.CRMError
	switch {
	case errors.As(err, &fe):
		f.Errors[fe.Field] = vw.T("form.err.invalid", fe.Message)
	case errors.As(err, &ce):
		kind := crmKind(err)
		field := ce.Field
		if kind == "transport" || kind == "account_not_found" {
			// Nothing answered at the address: the address is what to fix, whatever layer
			// noticed it.
			field = "retailcrm.url"
		}
		detail := vw.T("form.err.details", ce.Message)
		var re *retailcrm.Error
		if errors.As(err, &re) && re.Message != "" {
			detail = vw.T("form.err.crm_said", re.Message)
		}
		f.Errors[field] = vw.T("form.err.crm."+kind) + " " + detail
	case errors.Is(err, store.ErrNotFound):
		f.Errors["form"] = vw.T("error.notfound.text")
	default:
		h.Log.Error("import task form", "error", err)
		f.Errors["form"] = vw.T("error.internal.text")
	}
}

// crmKind names the catalogue entry for a RetailCRM failure.
func crmKind(err error) string {
	switch retailcrm.KindOf(err) {
	case retailcrm.KindInvalidKey:
		return "invalid_key"
	case retailcrm.KindAccessDenied:
		return "access_denied"
	case retailcrm.KindAccountNotFound:
		return "account_not_found"
	case retailcrm.KindTransport:
		return "transport"
	case retailcrm.KindRateLimited, retailcrm.KindServer, retailcrm.KindGarbled:
		return "unavailable"
	}
	return "other"
}

// finishErrors lists the errors in the form's order for the summary at its top.
func (h *Web) finishErrors(vw *view, f *taskForm) {
	order := []string{"form", "name", "type", "frequency_hours", "retailcrm", "retailcrm.url", "url", "retailcrm.api_key", "api_key", "backfill_from"}
	for _, fi := range mapping.Fields {
		order = append(order, "mapping."+fi.Name)
	}
	seen := map[string]bool{}
	for _, k := range order {
		if msg, ok := f.Errors[k]; ok {
			f.Summary = append(f.Summary, formError{Anchor: fieldAnchor(k), Message: msg})
			seen[k] = true
		}
	}
	for k, msg := range f.Errors {
		if !seen[k] {
			f.Summary = append(f.Summary, formError{Anchor: fieldAnchor(k), Message: msg})
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
			f.CustomFields = append(f.CustomFields, imports.CustomField{Code: code})
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
	f.Rows, f.FieldNames = f.Rows[:0], f.FieldNames[:0]
	for _, fi := range mapping.Fields {
		f.FieldNames = append(f.FieldNames, fi.Name)
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
			label := ch.LabelRU
			if vw.Lang == "en" {
				label = ch.LabelEN
			}
			if ch.Group == "custom" {
				label = vw.T("form.custom_field", customName(f.CustomFields, ch.Expr))
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

func hasCustomField(fields []imports.CustomField, code string) bool {
	for _, cf := range fields {
		if cf.Code == code {
			return true
		}
	}
	return false
}

// customName is a custom field's name for its choice's label (the code when it has none).
func customName(fields []imports.CustomField, expr string) string {
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
