package crmemu

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// answer is a fully built response: built before writing so that the
// truncation fault can cut it and the Content-Length can lie about it.
type answer struct {
	status      int
	contentType string
	body        []byte
	pooled      bool // body may be recycled after it was written
	items       int  // orders or feed entries in the body: they make the answer slower
}

// bufs recycles page buffers (~0.5 MB each). A channel rather than a
// sync.Pool: the pool is emptied by every GC, which the page generation
// itself triggers often, and regrowing the buffer doubled the allocations.
var bufs = make(chan []byte, 16)

func (e *Emulator) newEnc() *enc {
	select {
	case b := <-bufs:
		return &enc{b: b}
	default:
		return &enc{b: make([]byte, 0, 256<<10)}
	}
}

func jsonAnswer(status int, w *enc) answer {
	return answer{status: status, contentType: "application/json", body: w.b, pooled: true}
}

func (a *answer) release() {
	if a.pooled && cap(a.body) <= 8<<20 {
		select {
		case bufs <- a.body[:0]:
		default:
		}
	}
}

type route struct {
	name  string // endpoint name in Stats.ByEndpoint
	scope string // "" = any valid key
	serve func(e *Emulator, r *http.Request, q url.Values, kc *KeyConfig) answer
}

// routeFor maps a path to its endpoint; unknown paths give nil.
func routeFor(path string) *route {
	switch path {
	case "/api/api-versions":
		return &routeAPIVersions
	case "/api/credentials":
		return &routeCredentials
	case "/api/system-info":
		return &routeSystemInfo
	case "/api/v5/settings":
		return &routeSettings
	case "/api/v5/reference/sites":
		return &routeSites
	case "/api/v5/reference/statuses":
		return &routeStatuses
	case "/api/v5/reference/status-groups":
		return &routeStatusGroups
	case "/api/v5/custom-fields":
		return &routeCustomFields
	case "/api/v5/custom-fields/dictionaries":
		return &routeDictionaries
	case "/api/v5/orders":
		return &routeOrders
	case "/api/v5/orders/history":
		return &routeHistory
	case "/api/v5/orders/statuses":
		return &routeOrderStatuses
	}
	if rest, ok := strings.CutPrefix(path, "/api/v5/orders/"); ok && rest != "" && !strings.Contains(rest, "/") {
		return &routeOrder
	}
	if rest, ok := strings.CutPrefix(path, "/api/v5/custom-fields/"); ok && strings.Count(rest, "/") == 1 {
		return &routeCustomField
	}
	return nil
}

var (
	routeAPIVersions   = route{"/api/api-versions", "", (*Emulator).apiVersions}
	routeCredentials   = route{"/api/credentials", "", (*Emulator).credentials}
	routeSystemInfo    = route{"/api/system-info", "", (*Emulator).systemInfo}
	routeSettings      = route{"/api/v5/settings", "", (*Emulator).settings}
	routeSites         = route{"/api/v5/reference/sites", "reference_read", (*Emulator).referenceSites}
	routeStatuses      = route{"/api/v5/reference/statuses", "reference_read", (*Emulator).referenceStatuses}
	routeStatusGroups  = route{"/api/v5/reference/status-groups", "reference_read", (*Emulator).referenceStatusGroups}
	routeCustomFields  = route{"/api/v5/custom-fields", "custom_fields_read", (*Emulator).customFields}
	routeCustomField   = route{"/api/v5/custom-fields/{entity}/{code}", "custom_fields_read", (*Emulator).customField}
	routeDictionaries  = route{"/api/v5/custom-fields/dictionaries", "custom_fields_read", (*Emulator).dictionaries}
	routeOrders        = route{"/api/v5/orders", "order_read", (*Emulator).orders}
	routeOrder         = route{"/api/v5/orders/{id}", "order_read", (*Emulator).order}
	routeHistory       = route{"/api/v5/orders/history", "order_read", (*Emulator).history}
	routeOrderStatuses = route{"/api/v5/orders/statuses", "order_read", (*Emulator).orderStatuses}
)

// apiKey reads the key the way RetailCRM accepts it: the X-API-KEY header or
// the apiKey parameter.
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-API-KEY"); k != "" {
		return k
	}
	return r.URL.Query().Get("apiKey")
}

// ServeHTTP answers one API request: hooks, rate limit, faults, the endpoint, then the answer
// time. The answer is what the account held when the request arrived (RetailCRM's time goes to
// reading and encoding it), written once its answer time is over.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// the limiter counts the request when it arrives, before a hook can delay it
	limited := e.lim.arrive(apiKey(r), time.Now())
	e.stats.begin()
	defer e.stats.end()
	e.runHooks(r)
	rt := routeFor(r.URL.Path)
	name := "unknown"
	if rt != nil {
		name = rt.name
	}
	e.stats.request(name)
	if limited {
		e.stats.rateLimited()
		writeAnswer(w, nginxPage(http.StatusServiceUnavailable))
		return
	}
	if f, ok := e.faults.next(r.URL.Path); ok {
		e.stats.fault(f)
		if sleepCtx(r, e.wait.of(0)) {
			e.serveFault(w, r, f, rt)
		}
		return
	}
	a := e.answer(r, rt)
	if sleepCtx(r, e.wait.of(a.items)) {
		writeAnswer(w, a)
	}
	a.release()
}

func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func writeAnswer(w http.ResponseWriter, a answer) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// answer runs routing, method check, authentication and the endpoint.
func (e *Emulator) answer(r *http.Request, rt *route) answer {
	if rt == nil {
		return errorAnswer(http.StatusNotFound, "API method not found")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errorAnswer(http.StatusMethodNotAllowed, "Method Not Allowed")
	}
	q := r.URL.Query()
	key := apiKey(r)
	if key == "" {
		return errorAnswer(http.StatusForbidden, `"apiKey" is missing.`)
	}
	e.mu.RLock()
	kc, ok := e.keys[key]
	e.mu.RUnlock()
	if !ok {
		return errorAnswer(http.StatusForbidden, `Wrong "apiKey" value.`)
	}
	if rt.scope != "" && !hasScope(&kc, rt.scope) {
		return errorAnswer(http.StatusForbidden, "Access denied.")
	}
	return rt.serve(e, r, q, &kc)
}

func errorAnswer(status int, msg string, fieldErrors ...[2]string) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", false)
	w.kstr("errorMsg", msg)
	if len(fieldErrors) > 0 {
		w.obj("errors")
		for _, fe := range fieldErrors {
			w.kstr(fe[0], fe[1])
		}
		w.close('}')
	}
	w.close('}')
	return answer{status: status, contentType: "application/json", body: w.b}
}

// invalidValue is the validator text of the recorded 400 (error-400-validation fixture).
const invalidValue = "Значение недопустимо."

func validationError(field, msg string) answer {
	return errorAnswer(http.StatusBadRequest, "Errors in the input parameters", [2]string{field, msg})
}

func accessDenied() answer { return errorAnswer(http.StatusForbidden, "Access denied.") }

// paging parses limit (20|50|100, default 20) and page (>= 1, default 1).
func paging(q url.Values) (limit, page int, bad *answer) {
	limit, page = 20, 1
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || (n != 20 && n != 50 && n != 100) {
			a := validationError("limit", invalidValue)
			return 0, 0, &a
		}
		limit = n
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			a := validationError("page", "Значение должно быть 1 или больше.")
			return 0, 0, &a
		}
		page = n
	}
	return limit, page, nil
}

func (w *enc) pagination(limit, page int, total int64) {
	w.obj("pagination")
	w.kint("limit", int64(limit))
	w.kint("totalCount", total)
	w.kint("currentPage", int64(page))
	w.kint("totalPageCount", (total+int64(limit)-1)/int64(limit))
	w.close('}')
}

// multi collects an array parameter in any of the encodings clients use:
// name[]=a (Go SDK brackets), name[0]=a (PHP http_build_query), name=a.
func multi(q url.Values, name string) ([]string, bool) {
	var out []string
	found := false
	for k, vs := range q {
		if k == name || k == name+"[]" {
			out = append(out, vs...)
			found = true
			continue
		}
		if rest, ok := strings.CutPrefix(k, name+"["); ok && strings.HasSuffix(rest, "]") {
			if _, err := strconv.Atoi(rest[:len(rest)-1]); err == nil {
				out = append(out, vs...)
				found = true
			}
		}
	}
	return out, found
}

func (e *Emulator) apiVersions(_ *http.Request, _ url.Values, _ *KeyConfig) answer {
	return answer{status: 200, contentType: "application/json", body: []byte(`{"success":true,"versions":["3.0","4.0","5.0"]}`)}
}

var credentialPaths = []string{
	"/api/orders", "/api/orders/{externalId}", "/api/orders/history", "/api/orders/statuses",
	"/api/reference/sites", "/api/reference/statuses", "/api/reference/status-groups",
	"/api/custom-fields", "/api/custom-fields/dictionaries", "/api/settings",
}

func (e *Emulator) credentials(_ *http.Request, _ url.Values, kc *KeyConfig) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.arr("scopes")
	for _, s := range kc.Scopes {
		w.str(s)
	}
	w.close(']')
	w.arr("credentials")
	for _, p := range credentialPaths {
		w.str(p)
	}
	w.close(']')
	access := kc.SiteAccess
	if access == "" {
		access = AccessFull
	}
	w.kstr("siteAccess", access)
	w.arr("sitesAvailable")
	if access == AccessSelective {
		for _, s := range kc.Sites {
			w.str(s)
		}
	} else {
		for _, s := range siteCodes {
			w.str(s)
		}
	}
	w.close(']')
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) systemInfo(r *http.Request, _ url.Values, _ *KeyConfig) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.kstr("systemVersion", "8.1.51")
	w.kstr("publicUrl", "http://"+r.Host)
	w.kstr("technicalUrl", "http://"+r.Host)
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) settings(_ *http.Request, _ url.Values, _ *KeyConfig) answer {
	e.mu.RLock()
	tz, loc, updated := e.tz, e.loc, e.tzUpdated
	e.mu.RUnlock()
	w := enc{loc: loc}
	w.open('{')
	w.kbool("success", true)
	w.obj("settings")
	w.obj("default_currency")
	w.kstr("value", e.defaultCurrency)
	w.kts("updated_at", e.gen.start)
	w.close('}')
	w.obj("system_language")
	w.kstr("value", "RU")
	w.kts("updated_at", e.gen.start)
	w.close('}')
	w.obj("timezone")
	w.kstr("value", tz)
	w.kts("updated_at", updated)
	w.close('}')
	w.arr("work_times")
	for _, d := range []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"} {
		w.open('{')
		w.kstr("day_type", d)
		w.kstr("start_time", "09:00")
		w.kstr("end_time", "18:00")
		w.kstr("lunch_start_time", "13:00")
		w.kstr("lunch_end_time", "14:00")
		w.close('}')
	}
	w.close(']')
	w.close('}')
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) referenceSites(_ *http.Request, _ url.Values, _ *KeyConfig) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.sites(e.currencies)
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) referenceStatuses(_ *http.Request, _ url.Values, _ *KeyConfig) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	e.mu.RLock()
	defs := e.statuses
	e.mu.RUnlock()
	w.statuses(defs)
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) referenceStatusGroups(_ *http.Request, _ url.Values, _ *KeyConfig) answer {
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	e.mu.RLock()
	defs := e.statuses
	e.mu.RUnlock()
	w.statusGroups(defs)
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) customFields(_ *http.Request, q url.Values, _ *KeyConfig) answer {
	limit, page, bad := paging(q)
	if bad != nil {
		return *bad
	}
	entity := q.Get("filter[entity]")
	code := q.Get("filter[code]")
	types, _ := multi(q, "filter[type]")
	var match []*customFieldDef
	for i := range customFieldDefs {
		d := &customFieldDefs[i]
		if (entity == "" || d.entity == entity) && (code == "" || d.code == code) && (len(types) == 0 || contains(types, d.typ)) {
			match = append(match, d)
		}
	}
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.pagination(limit, page, int64(len(match)))
	w.arr("customFields")
	for i := (page - 1) * limit; i < len(match) && i < page*limit; i++ {
		w.customFieldDef(match[i])
	}
	w.close(']')
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func (e *Emulator) customField(r *http.Request, _ url.Values, _ *KeyConfig) answer {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v5/custom-fields/")
	entity, code, _ := strings.Cut(rest, "/")
	for i := range customFieldDefs {
		d := &customFieldDefs[i]
		if d.entity == entity && d.code == code {
			w := enc{}
			w.open('{')
			w.kbool("success", true)
			w.key("customField")
			w.customFieldDef(d)
			w.close('}')
			return answer{status: 200, contentType: "application/json", body: w.b}
		}
	}
	return errorAnswer(http.StatusNotFound, "Not found")
}

func (e *Emulator) dictionaries(_ *http.Request, q url.Values, _ *KeyConfig) answer {
	limit, page, bad := paging(q)
	if bad != nil {
		return *bad
	}
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.pagination(limit, page, int64(len(dictionaries)))
	w.arr("customDictionaries")
	for i := (page - 1) * limit; i < len(dictionaries) && i < page*limit; i++ {
		w.dictionary(i)
	}
	w.close(']')
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
