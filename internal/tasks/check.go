package tasks

import (
	"context"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/counting"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// client opens a RetailCRM client for a URL and key typed by a user, after the SSRF policy
// accepted the URL.
func (s *Service) client(rawURL, apiKey string, rateLimit float64) (*retailcrm.Client, error) {
	var bad problems
	u, err := s.Policy.CheckURL(rawURL)
	switch {
	case strings.TrimSpace(rawURL) == "":
		bad.add("retailcrm.url", locale.M("url_required"))
	case err != nil:
		bad.add("retailcrm.url", urlMessage(err))
	}
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		bad.add("retailcrm.api_key", locale.M("api_key_required"))
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	s.Keys.Remember(apiKey)
	return retailcrm.New(retailcrm.Config{URL: u, APIKey: apiKey, RateLimit: rateLimit,
		HTTPClient: s.HTTPClient, Limiters: s.Limiters, MaxAttempts: 3})
}

// preflight is the check every run starts with, as a connection check.
func preflight(ctx context.Context, c *retailcrm.Client) (*importer.Prepared, error) {
	return importer.Preflight(ctx, c)
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
	// The reference, for the choice of what counts: the status groups with their statuses, and
	// the account's default currency. ReferenceReadable is false for a key without
	// reference_read (the lists are then empty).
	StatusGroups      []GroupInfo `json:"status_groups"`
	DefaultCurrency   string      `json:"default_currency"`
	ReferenceReadable bool        `json:"reference_readable"`
}

// SiteInfo is a store the key can read.
type SiteInfo struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
}

// GroupInfo is a status group with its statuses, in RetailCRM's order.
type GroupInfo struct {
	Code     string       `json:"code"`
	Name     string       `json:"name"`
	Counted  bool         `json:"counted_by_default"`
	Statuses []StatusInfo `json:"statuses"`
}

// StatusInfo is an order status.
type StatusInfo struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// Groups lays a reference out for the choice of what counts: each group with its statuses.
func Groups(ref *store.Reference) []GroupInfo {
	out := []GroupInfo{}
	if ref == nil {
		return out
	}
	for _, g := range ref.Groups {
		gi := GroupInfo{Code: g.Code, Name: g.Name, Counted: g.Code != counting.Cancel, Statuses: []StatusInfo{}}
		for _, st := range ref.Statuses {
			if st.Group == g.Code {
				gi.Statuses = append(gi.Statuses, StatusInfo{Code: st.Code, Name: st.Name, Active: st.Active})
			}
		}
		out = append(out, gi)
	}
	return out
}

// CustomField is one of the account's order custom fields.
type CustomField struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// CheckInput is a connection to check: a typed URL and key, or (editing a task, key left
// blank) the task's stored key when the URL is still the task's.
type CheckInput struct {
	URL    string
	APIKey string
	TaskID int64 // 0: a new connection
}

// Check asks RetailCRM whether the key works for an import: it must read orders; the stores,
// timezone and custom fields are returned for the settings form.
func (s *Service) Check(ctx context.Context, accountID int64, in CheckInput) (*CheckResult, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return nil, err
	}
	c, err := s.connection(ctx, accountID, in.URL, in.APIKey, in.TaskID)
	if err != nil {
		return nil, err
	}
	p, err := preflight(ctx, c)
	if err != nil {
		return nil, crmError(err)
	}
	res := &CheckResult{OK: true, URL: c.BaseURL(), Scopes: p.Credentials.Scopes, SiteAccess: p.Credentials.SiteAccess,
		Timezone: p.AccountTZ.String()}
	ref, err := liveReference(ctx, p)
	if err != nil {
		return nil, err
	}
	res.StatusGroups, res.DefaultCurrency, res.ReferenceReadable = Groups(ref), ref.DefaultCurrency, !ref.Unreadable
	allowed := map[string]bool{}
	for _, code := range p.Sites {
		allowed[code] = true
	}
	for _, st := range ref.Sites {
		if len(allowed) == 0 || allowed[st.Code] {
			res.Sites = append(res.Sites, SiteInfo{Code: st.Code, Name: st.Name, Currency: st.Currency})
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

// connection is a client for a typed URL and key or, when the key is blank and taskID names
// one of the account's tasks at the same URL, for that task's stored key (editing: the key is
// used, never shown). Trying a typed key is setting one: owners only.
func (s *Service) connection(ctx context.Context, accountID int64, url, key string, taskID int64) (*retailcrm.Client, error) {
	if strings.TrimSpace(key) != "" || taskID == 0 {
		if err := access.Require(ctx, accountID, access.SetKeys); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(key) == "" && taskID != 0 {
		t, err := s.Store.Task(ctx, accountID, taskID)
		if err != nil {
			return nil, err
		}
		if u, err := s.Policy.CheckURL(url); strings.TrimSpace(url) == "" || (err == nil && u == t.CRMURL) {
			stored, err := s.Keys.OpenKey(t)
			if err != nil {
				return nil, invalid("retailcrm.api_key", locale.M("api_key_unreadable"))
			}
			return s.client(t.CRMURL, stored, 0)
		}
		return nil, invalid("retailcrm.api_key", locale.M("api_key_again"))
	}
	return s.client(url, key, 0)
}
