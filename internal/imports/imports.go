// Package imports holds the use cases of import tasks shared by the JSON API and the web UI:
// validating and saving a task (its CRM key checked against RetailCRM and sealed), checking a
// connection, previewing the mapping, starting runs and re-syncs.
package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"orderimport/internal/audit"
	"orderimport/internal/importer"
	"orderimport/internal/mapping"
	"orderimport/internal/netguard"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// Enqueuer starts runs (the job system).
type Enqueuer interface {
	Enqueue(ctx context.Context, task store.Task, kind string) (store.Run, error)
}

// Service implements the task use cases.
type Service struct {
	Store      *store.Store
	Keyring    *secret.Keyring
	Jobs       Enqueuer
	Policy     netguard.Policy
	HTTPClient *http.Client
	Limiters   *retailcrm.Limiters
	Audit      *audit.Log // nil: nothing recorded
	Now        func() time.Time
}

// FieldError is invalid input: the field (as named in the API) and why, in plain words.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// CRMError is RetailCRM refusing a connection check: a 422 naming what RetailCRM said.
type CRMError struct {
	Field   string
	Message string
	Err     error
}

func (e *CRMError) Error() string { return e.Message }
func (e *CRMError) Unwrap() error { return e.Err }

// RetailCRMInput is the connection part of a task.
type RetailCRMInput struct {
	URL       *string  `json:"url"`
	APIKey    *string  `json:"api_key"`
	RateLimit *float64 `json:"rate_limit"`
}

// Input is a task as sent by a user; nil fields are left as they are (PATCH) or defaulted
// (create).
type Input struct {
	Name           *string            `json:"name"`
	Active         *bool              `json:"active"`
	Type           *string            `json:"type"`
	FrequencyHours *int               `json:"frequency_hours"`
	RetailCRM      *RetailCRMInput    `json:"retailcrm"`
	Mapping        map[string]*string `json:"mapping"`
	BackfillFrom   *string            `json:"backfill_from"`
}

// Limits of the contract.
const (
	MaxNameLen       = 200
	MaxFrequency     = 168
	DefaultRateLimit = 10.0
	MaxRateLimit     = 100.0
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Client opens a RetailCRM client for a URL and key typed by a user, after the SSRF policy
// accepted the URL.
func (s *Service) Client(rawURL, apiKey string, rateLimit float64) (*retailcrm.Client, error) {
	u, err := s.Policy.CheckURL(rawURL)
	if err != nil {
		return nil, &FieldError{Field: "retailcrm.url", Message: err.Error()}
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, &FieldError{Field: "retailcrm.api_key", Message: "is required: copy it in RetailCRM from Администрирование → Интеграция → Ключи доступа к API, column «Ключ»"}
	}
	// A typed key is a secret from now on: the log handler redacts what the keyring remembers.
	s.Keyring.Remember(strings.TrimSpace(apiKey))
	return retailcrm.New(retailcrm.Config{URL: u, APIKey: strings.TrimSpace(apiKey), RateLimit: rateLimit,
		HTTPClient: s.HTTPClient, Limiters: s.Limiters, MaxAttempts: 3})
}

// CheckResult is what RetailCRM said about a key.
type CheckResult struct {
	OK           bool                `json:"ok"`
	URL          string              `json:"url"`
	Scopes       []string            `json:"scopes"`
	SiteAccess   string              `json:"site_access"`
	Sites        []SiteInfo          `json:"sites"`
	Timezone     string              `json:"timezone"`
	CustomFields []CustomField       `json:"custom_fields"`
	Suggestions  map[string][]string `json:"suggestions,omitempty"`
}

// SiteInfo is a store the key can read.
type SiteInfo struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// CustomField is one of the account's order custom fields.
type CustomField struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// Check asks RetailCRM whether the key works for an import: it must read orders; the stores,
// timezone and custom fields are returned for the settings form.
func (s *Service) Check(ctx context.Context, rawURL, apiKey string) (*CheckResult, error) {
	c, err := s.Client(rawURL, apiKey, 0)
	if err != nil {
		return nil, err
	}
	p, err := importer.Preflight(ctx, c)
	if err != nil {
		return nil, crmError(err)
	}
	res := &CheckResult{OK: true, URL: c.BaseURL(), Scopes: p.Credentials.Scopes, SiteAccess: p.Credentials.SiteAccess,
		Timezone: p.AccountTZ.String()}
	sites, err := c.Sites(ctx)
	if err != nil && !retailcrm.IsKind(err, retailcrm.KindAccessDenied) {
		return nil, crmError(err)
	}
	allowed := map[string]bool{}
	for _, code := range p.Sites {
		allowed[code] = true
	}
	for _, st := range sites {
		if len(allowed) == 0 || allowed[st.Code] {
			res.Sites = append(res.Sites, SiteInfo{Code: st.Code, Name: st.Name})
		}
	}
	if len(res.Sites) == 0 {
		for _, code := range p.Sites {
			res.Sites = append(res.Sites, SiteInfo{Code: code, Name: code})
		}
	}
	fields, err := c.CustomFields(ctx, "order")
	if err != nil && !retailcrm.IsKind(err, retailcrm.KindAccessDenied) {
		return nil, crmError(err)
	}
	infos := make([]mapping.CustomFieldInfo, 0, len(fields))
	for _, f := range fields {
		res.CustomFields = append(res.CustomFields, CustomField{Code: f.Code, Name: f.Name, Type: f.Type})
		infos = append(infos, mapping.CustomFieldInfo{Code: f.Code, Name: f.Name, Type: f.Type})
	}
	res.Suggestions = mapping.Suggest(infos)
	if res.Scopes == nil {
		res.Scopes = []string{}
	}
	if res.Sites == nil {
		res.Sites = []SiteInfo{}
	}
	if res.CustomFields == nil {
		res.CustomFields = []CustomField{}
	}
	return res, nil
}

// Messages for connections the SSRF guard refused (internal/netguard): the URL is what the
// user has to change, and nothing about the guard is worth retrying.
const (
	msgPrivateAddress = "the address leads into a private or reserved network (loopback, a local network, a cloud metadata service), " +
		"where no RetailCRM account lives; enter the account's public address, like https://shop.retailcrm.ru"
	msgRedirect = "the address answered with a redirect to %s, and redirects are never followed; " +
		"enter the account's own address, as the browser shows it after you log in to RetailCRM"
)

// AddressRefused reports whether err is the SSRF guard refusing the CRM address (it leads into
// a private network, or answered with a redirect), rather than RetailCRM refusing the request.
func AddressRefused(err error) bool {
	var re *netguard.RedirectError
	return errors.As(err, &re) || errors.Is(err, netguard.ErrPrivateAddress)
}

func crmError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	var re *netguard.RedirectError
	if errors.As(err, &re) {
		return &CRMError{Field: "retailcrm.url", Message: fmt.Sprintf(msgRedirect, re.Location), Err: err}
	}
	if errors.Is(err, netguard.ErrPrivateAddress) {
		return &CRMError{Field: "retailcrm.url", Message: msgPrivateAddress, Err: err}
	}
	var f *importer.Failure
	if errors.As(err, &f) {
		return &CRMError{Field: "retailcrm.api_key", Message: f.Message, Err: err}
	}
	var ce *retailcrm.Error
	if errors.As(err, &ce) {
		field := "retailcrm.api_key"
		if ce.Kind == retailcrm.KindAccountNotFound || ce.Kind == retailcrm.KindTransport {
			field = "retailcrm.url"
		}
		return &CRMError{Field: field, Message: ce.Error(), Err: err}
	}
	return &CRMError{Field: "retailcrm.url", Message: "RetailCRM could not be reached: " + err.Error(), Err: err}
}

// validate checks and applies in to t. creating tells whether absent fields take defaults.
func (s *Service) apply(t *store.Task, in Input, creating bool) (keyChanged bool, mappingChanged bool, err error) {
	if in.Name != nil || creating {
		name := ""
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		if name == "" {
			return false, false, &FieldError{Field: "name", Message: "is required (for example «Заказы»)"}
		}
		if utf8.RuneCountInString(name) > MaxNameLen {
			return false, false, &FieldError{Field: "name", Message: fmt.Sprintf("must be at most %d characters", MaxNameLen)}
		}
		t.Name = name
	}
	if in.Active != nil {
		t.Active = *in.Active
	} else if creating {
		t.Active = true
	}
	if in.Type != nil || creating {
		typ := "retailcrm"
		if in.Type != nil {
			typ = *in.Type
		}
		if typ != "retailcrm" {
			return false, false, &FieldError{Field: "type", Message: fmt.Sprintf("%q is not a supported connection type (supported: retailcrm)", typ)}
		}
		t.Type = typ
	}
	if in.FrequencyHours != nil {
		if *in.FrequencyHours < 1 || *in.FrequencyHours > MaxFrequency {
			return false, false, &FieldError{Field: "frequency_hours", Message: fmt.Sprintf("must be a whole number of hours from 1 to %d", MaxFrequency)}
		}
		t.FrequencyHours = *in.FrequencyHours
	} else if creating {
		t.FrequencyHours = 1
	}
	if in.BackfillFrom != nil {
		v := strings.TrimSpace(*in.BackfillFrom)
		if v != "" {
			if _, err := time.Parse("2006-01-02", v); err != nil {
				return false, false, &FieldError{Field: "backfill_from", Message: "must be a date YYYY-MM-DD"}
			}
		}
		t.BackfillFrom = v
	}
	rc := in.RetailCRM
	if rc == nil {
		if creating {
			return false, false, &FieldError{Field: "retailcrm", Message: "is required: the account URL and API key"}
		}
		rc = &RetailCRMInput{}
	}
	if rc.URL != nil || creating {
		if rc.URL == nil || strings.TrimSpace(*rc.URL) == "" {
			return false, false, &FieldError{Field: "retailcrm.url", Message: "is required (for example https://shop.retailcrm.ru)"}
		}
		u, err := s.Policy.CheckURL(*rc.URL)
		if err != nil {
			return false, false, &FieldError{Field: "retailcrm.url", Message: err.Error()}
		}
		if u != t.CRMURL {
			keyChanged = true
		}
		t.CRMURL = u
	}
	if rc.APIKey != nil || creating {
		if rc.APIKey == nil || strings.TrimSpace(*rc.APIKey) == "" {
			return false, false, &FieldError{Field: "retailcrm.api_key", Message: "is required: copy it in RetailCRM from Администрирование → Интеграция → Ключи доступа к API, column «Ключ»"}
		}
		keyChanged = true
	} else if keyChanged {
		return false, false, &FieldError{Field: "retailcrm.api_key", Message: "must be entered again when the account URL changes"}
	}
	if rc.RateLimit != nil {
		if *rc.RateLimit <= 0 || *rc.RateLimit > MaxRateLimit {
			return false, false, &FieldError{Field: "retailcrm.rate_limit", Message: fmt.Sprintf("must be a number of requests per second above 0 and at most %g", MaxRateLimit)}
		}
		t.RateLimit = *rc.RateLimit
	} else if creating {
		t.RateLimit = DefaultRateLimit
	}
	if in.Mapping != nil || creating {
		spec := map[string]string{}
		if t.Mapping != "" {
			if err := json.Unmarshal([]byte(t.Mapping), &spec); err != nil {
				return false, false, fmt.Errorf("imports: stored mapping of task %d: %w", t.ID, err)
			}
		}
		for field, expr := range in.Mapping {
			if expr == nil {
				delete(spec, field)
				continue
			}
			spec[field] = strings.TrimSpace(*expr)
		}
		if _, err := CompileMapping(spec); err != nil {
			return false, false, err
		}
		b, _ := json.Marshal(spec)
		if string(b) != t.Mapping {
			mappingChanged = !creating
			t.Mapping = string(b)
		}
	}
	return keyChanged, mappingChanged, nil
}

// CompileMapping compiles a user's mapping, turning compile errors into a FieldError that
// names the first bad field as "mapping.<field>".
func CompileMapping(spec map[string]string) (*mapping.Mapping, error) {
	m, err := mapping.Compile(spec)
	if err != nil {
		var ce *mapping.CompileError
		if errors.As(err, &ce) && len(ce.Errors) > 0 {
			sort.Slice(ce.Errors, func(i, j int) bool { return fieldOrder(ce.Errors[i].Field) < fieldOrder(ce.Errors[j].Field) })
			return nil, &FieldError{Field: "mapping." + ce.Errors[0].Field, Message: ce.Error()}
		}
		return nil, &FieldError{Field: "mapping", Message: err.Error()}
	}
	return m, nil
}

func fieldOrder(name string) int {
	for i, f := range mapping.Fields {
		if f.Name == name {
			return i
		}
	}
	return len(mapping.Fields)
}

// Create validates, checks the key against RetailCRM, seals it and saves the task; an active
// task's first run is enqueued at once.
func (s *Service) Create(ctx context.Context, accountID, counterID int64, in Input) (store.Task, error) {
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return store.Task{}, err
	}
	t := store.Task{AccountID: accountID, CounterID: counterID}
	if _, _, err := s.apply(&t, in, true); err != nil {
		return store.Task{}, err
	}
	key := strings.TrimSpace(*in.RetailCRM.APIKey)
	if err := s.checkKey(ctx, t.CRMURL, key); err != nil {
		return store.Task{}, err
	}
	if err := s.seal(&t, key); err != nil {
		return store.Task{}, err
	}
	t, err := s.Store.CreateTask(ctx, t)
	if err != nil {
		return store.Task{}, err
	}
	s.Audit.Record(ctx, accountID, audit.ImportCreate, taskTarget(t.ID),
		fmt.Sprintf("«%s» in counter %d, %s, key %s, active %t", t.Name, t.CounterID, t.CRMURL, t.CRMKeyHint, t.Active))
	if t.Active {
		if err := s.startScheduled(ctx, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (s *Service) checkKey(ctx context.Context, u, key string) error {
	c, err := s.Client(u, key, 0)
	if err != nil {
		return err
	}
	if _, err := importer.Preflight(ctx, c); err != nil {
		return crmError(err)
	}
	return nil
}

func (s *Service) seal(t *store.Task, key string) error {
	sealed, err := s.Keyring.Seal([]byte(key), importer.KeyAAD(t.AccountID))
	if err != nil {
		return fmt.Errorf("imports: seal the RetailCRM key: %w", err)
	}
	t.CRMKeySealed = sealed
	t.CRMKeyHint = secret.Hint(key)
	return nil
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
// task out of needs_attention (the user has acted on it); activating a task runs it now; a
// changed mapping re-applies itself to the stored orders through a re-sync.
func (s *Service) Update(ctx context.Context, accountID, id int64, in Input) (store.Task, error) {
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Task{}, err
	}
	before := t
	wasActive := t.Active
	keyChanged, mappingChanged, err := s.apply(&t, in, false)
	if err != nil {
		return store.Task{}, err
	}
	if keyChanged {
		key := strings.TrimSpace(*in.RetailCRM.APIKey)
		if err := s.checkKey(ctx, t.CRMURL, key); err != nil {
			return store.Task{}, err
		}
		if err := s.seal(&t, key); err != nil {
			return store.Task{}, err
		}
	}
	t.Status, t.StatusMessage, t.ConsecutiveFailures = store.TaskOK, "", 0
	switch {
	case !t.Active:
		t.NextRunAt = nil
	case !wasActive || t.NextRunAt == nil:
		now := s.now().UTC()
		t.NextRunAt = &now
	}
	t, err = s.Store.UpdateTask(ctx, t)
	if err != nil {
		return store.Task{}, err
	}
	s.Audit.Record(ctx, accountID, audit.ImportUpdate, taskTarget(t.ID), "changed: "+changedFields(before, t, keyChanged))
	if keyChanged {
		s.Audit.Record(ctx, accountID, audit.KeyReplaced, taskTarget(t.ID),
			fmt.Sprintf("key %s at %s replaced by key %s at %s", before.CRMKeyHint, before.CRMURL, t.CRMKeyHint, t.CRMURL))
	}
	if mappingChanged {
		if _, err := s.Jobs.Enqueue(ctx, t, store.RunResync); err != nil {
			return t, err
		}
	} else if t.Active && !wasActive {
		if err := s.startScheduled(ctx, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

// ErrRunActive is returned when a re-sync is asked for while a run is queued or running.
var ErrRunActive = errors.New("a run of this task is already queued or running; start the re-sync when it has finished")

// RunNow queues a run (also of an inactive task); when one is queued or running already,
// that one is returned.
func (s *Service) RunNow(ctx context.Context, accountID, id int64) (store.Run, error) {
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Run{}, err
	}
	r, err := s.Jobs.Enqueue(ctx, t, store.RunManual)
	if err != nil {
		return store.Run{}, err
	}
	s.Audit.Record(ctx, accountID, audit.RunStart, taskTarget(t.ID), fmt.Sprintf("run %d (%s)", r.ID, r.Status))
	return r, nil
}

// Delete stops a task for good; its imported orders stay, its sealed key goes.
func (s *Service) Delete(ctx context.Context, accountID, id int64) error {
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteTask(ctx, accountID, id); err != nil {
		return err
	}
	s.Audit.Record(ctx, accountID, audit.ImportDelete, taskTarget(id), fmt.Sprintf("«%s», key %s at %s dropped", t.Name, t.CRMKeyHint, t.CRMURL))
	return nil
}

func taskTarget(id int64) string { return fmt.Sprintf("import:%d", id) }

// changedFields names the fields an update changed, in the API's words; never their values
// for the key.
func changedFields(a, b store.Task, keyChanged bool) string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(a.Name != b.Name, "name")
	add(a.Active != b.Active, fmt.Sprintf("active (%t → %t)", a.Active, b.Active))
	add(a.FrequencyHours != b.FrequencyHours, fmt.Sprintf("frequency_hours (%d → %d)", a.FrequencyHours, b.FrequencyHours))
	add(a.CRMURL != b.CRMURL, "retailcrm.url")
	add(keyChanged, "retailcrm.api_key")
	add(a.RateLimit != b.RateLimit, "retailcrm.rate_limit")
	add(a.Mapping != b.Mapping, "mapping")
	add(a.BackfillFrom != b.BackfillFrom, "backfill_from")
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// Resync queues a run that re-reads every order and then flags deleted what RetailCRM no
// longer has.
func (s *Service) Resync(ctx context.Context, accountID, id int64) (store.Run, error) {
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
	r, err := s.Jobs.Enqueue(ctx, t, store.RunResync)
	if err != nil {
		return store.Run{}, err
	}
	if r.Kind != store.RunResync {
		return r, ErrRunActive
	}
	s.Audit.Record(ctx, accountID, audit.Resync, taskTarget(t.ID), fmt.Sprintf("run %d", r.ID))
	return r, nil
}
