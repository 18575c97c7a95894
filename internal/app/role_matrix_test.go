package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/people"
	"orderimport/internal/store"
)

// The principals every route is tried as: the account's owner, editor and viewer, a user of
// another account (an owner there), nobody, and a revoked API token of the owner's.
const (
	asOwner   = "owner"
	asEditor  = "editor"
	asViewer  = "viewer"
	asOther   = "user of another account"
	asAnon    = "anonymous"
	asRevoked = "revoked token"
)

// principals in the order they try each route: the owner last, so that the others meet the
// resources as they are.
var principals = []string{asOther, asAnon, asRevoked, asViewer, asEditor, asOwner}

// ids are the owner's resources the routes name, some of them one per principal (what a route
// ends can be ended once: each principal that may end one has its own).
type ids struct {
	counter, task, run, otherCounter int64
	crm                              string
	apiDelete, uiDelete              map[string]int64  // import tasks
	roleTarget                       int64             // a user whose role the routes change
	apiRemove, uiRemove              int64             // users the owner removes
	invite                           map[string]string // an invitation link's token per principal
	// Webhooks and alert channels: one the routes use, and one per principal that may delete one.
	webhook, channel            int64
	hookAPIDelete, hookUIDelete map[string]int64
	chanAPIDelete, chanUIDelete map[string]int64
	receiver                    string // a webhook receiver's URL
	trigger                     string // the path of the task's trigger URL
	order                       string // an order of the counter (its order_id)
}

func webhookOf(in ids, _ string) int64 { return in.webhook }
func channelOf(in ids, _ string) int64 { return in.channel }

func (in ids) of(m map[string]int64, who string) int64 {
	if id, ok := m[who]; ok {
		return id
	}
	return m[asOwner]
}

// routeCase says how to call one route and what each principal must get. By default: API
// routes are 401 without valid credentials, UI pages send anyone without a session to the login
// page; another account gets 404 for the owner's ids; a role below the route's least role gets
// 403 (API and UI alike); a role at least that gets what the owner gets.
type routeCase struct {
	path func(in ids, who string) string
	body func(in ids, who string) string // API: JSON; UI: a form, url-encoded
	// least is the least role that may use the route: access.Viewer (every user), access.Editor
	// or access.Owner; public routes have none.
	least access.Role
	owner []int // what the owner (and every role at least least) may get
	other int   // what a user of another account gets; 0 = 404
	open  bool  // public: every principal gets an owner status, unless want says otherwise
	want  map[string][]int
	// order puts routes that end something last: 1 deletes and removes, 2 ends the sessions.
	order int
	// check looks at what another account got from a route that answers it 2xx: nothing of
	// the owner's may be in it, not even a count.
	check func(t *testing.T, body string, in ids)
}

func apiCreateBody(in ids, _ string) string {
	return jsonOf(map[string]any{"name": "Заказы", "active": false, "retailcrm": map[string]any{"url": in.crm, "api_key": crmemu.DemoKey}})
}

// ownerMarker is in the names of everything the owner has; another account must never see it.
const ownerMarker = "Secret-Shop-7c1"

func noOwnerData(t *testing.T, body string, _ ids) {
	t.Helper()
	if strings.Contains(body, ownerMarker) || strings.Contains(body, ownerEmail) || strings.Contains(body, "target@example.com") {
		t.Errorf("another account sees the owner's data: %.400s", body)
	}
}

// slug makes a principal's name usable in an email address.
func slug(who string) string { return strings.ReplaceAll(who, " ", "-") }

func fixed(p string) func(ids, string) string { return func(ids, string) string { return p } }

func pathOf(format string, f func(ids, string) int64) func(ids, string) string {
	return func(in ids, who string) string { return fmt.Sprintf(format, f(in, who)) }
}

func counterOf(in ids, _ string) int64 { return in.counter }
func taskOf(in ids, _ string) int64    { return in.task }
func runOf(in ids, _ string) int64     { return in.run }
func targetOf(in ids, _ string) int64  { return in.roleTarget }

var (
	signedIn   = []int{http.StatusConflict}
	inviteOpen = map[string][]int{asOwner: signedIn, asEditor: signedIn, asViewer: signedIn, asOther: signedIn}
)

var matrix = map[string]routeCase{
	// The JSON API.
	"POST /api/v1/counters": {path: fixed("/api/v1/counters"), body: func(_ ids, who string) string { return `{"name":"By ` + who + `"}` },
		least: access.Editor, owner: []int{201}, other: 201, check: noOwnerData},
	"GET /api/v1/counters":               {path: fixed("/api/v1/counters"), least: access.Viewer, owner: []int{200}, other: 200, check: emptyListExceptTheirs},
	"GET /api/v1/counters/{id}":          {path: pathOf("/api/v1/counters/%d", counterOf), least: access.Viewer, owner: []int{200}},
	"POST /api/v1/counters/{id}/imports": {path: pathOf("/api/v1/counters/%d/imports", counterOf), body: apiCreateBody, least: access.Owner, owner: []int{201}},
	"GET /api/v1/counters/{id}/imports":  {path: pathOf("/api/v1/counters/%d/imports", counterOf), least: access.Viewer, owner: []int{200}},
	"GET /api/v1/imports/{id}":           {path: pathOf("/api/v1/imports/%d", taskOf), least: access.Viewer, owner: []int{200}},
	"PATCH /api/v1/imports/{id}": {path: pathOf("/api/v1/imports/%d", taskOf), body: fixed(`{"name":"` + ownerMarker + ` 2"}`),
		least: access.Editor, owner: []int{200}},
	"DELETE /api/v1/imports/{id}": {path: pathOf("/api/v1/imports/%d", func(in ids, who string) int64 { return in.of(in.apiDelete, who) }),
		least: access.Editor, owner: []int{204}, order: 1},
	"POST /api/v1/imports/{id}/runs":   {path: pathOf("/api/v1/imports/%d/runs", taskOf), least: access.Editor, owner: []int{202}},
	"GET /api/v1/imports/{id}/runs":    {path: pathOf("/api/v1/imports/%d/runs", taskOf), least: access.Viewer, owner: []int{200}},
	"POST /api/v1/imports/{id}/resync": {path: pathOf("/api/v1/imports/%d/resync", taskOf), least: access.Editor, owner: []int{202, 409}},
	"GET /api/v1/runs/{id}":            {path: pathOf("/api/v1/runs/%d", runOf), least: access.Viewer, owner: []int{200}},
	// A typed key is a key given to the service: owners only.
	"POST /api/v1/retailcrm/check": {path: fixed("/api/v1/retailcrm/check"),
		body:  func(in ids, _ string) string { return jsonOf(map[string]any{"url": in.crm, "api_key": crmemu.DemoKey}) },
		least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /api/v1/imports/preview": {path: fixed("/api/v1/imports/preview"),
		body: func(in ids, _ string) string {
			return jsonOf(map[string]any{"task_id": in.task, "counter_id": in.counter, "limit": 3})
		}, least: access.Editor, owner: []int{200}},
	"POST /api/v1/imports/estimate": {path: fixed("/api/v1/imports/estimate"),
		body: func(in ids, _ string) string { return jsonOf(map[string]any{"task_id": in.task}) }, least: access.Editor, owner: []int{200}},
	"GET /api/v1/counters/{id}/orders": {path: func(in ids, _ string) string {
		return fmt.Sprintf("/api/v1/counters/%d/orders?include_deleted=true", in.counter)
	},
		least: access.Viewer, owner: []int{200}},
	"GET /api/v1/counters/{id}/orders/summary": {path: pathOf("/api/v1/counters/%d/orders/summary", counterOf), least: access.Viewer, owner: []int{200}},
	"GET /api/v1/fields":                       {path: fixed("/api/v1/fields"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"GET /api/v1/audit":                        {path: fixed("/api/v1/audit?limit=1000"), least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"GET /api/v1/users":                        {path: fixed("/api/v1/users"), least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /api/v1/users": {path: fixed("/api/v1/users"),
		body:  func(_ ids, who string) string { return `{"email":"api-` + slug(who) + `@example.com","role":"viewer"}` },
		least: access.Owner, owner: []int{201}, other: 201, check: noOwnerData},
	"PATCH /api/v1/users/{id}": {path: pathOf("/api/v1/users/%d", targetOf), body: fixed(`{"role":"editor"}`), least: access.Owner, owner: []int{200}},
	"DELETE /api/v1/users/{id}": {path: pathOf("/api/v1/users/%d", func(in ids, _ string) int64 { return in.apiRemove }),
		least: access.Owner, owner: []int{204}, order: 1},
	"/api/": {path: fixed("/api/v1/nothing-here"), least: access.Viewer, owner: []int{404}, other: 404},
	// The orders' way out: reading is everyone's; webhooks, alert channels and the trigger's URL
	// are the editors'.
	"GET /api/v1/counters/{id}/orders/changes": {path: pathOf("/api/v1/counters/%d/orders/changes", counterOf), least: access.Viewer, owner: []int{200}},
	"POST /api/v1/counters/{id}/webhooks": {path: pathOf("/api/v1/counters/%d/webhooks", counterOf),
		body: func(in ids, who string) string {
			return jsonOf(map[string]any{"url": in.receiver + "/" + ownerMarker + "-" + slug(who)})
		},
		least: access.Editor, owner: []int{201}},
	"GET /api/v1/counters/{id}/webhooks": {path: pathOf("/api/v1/counters/%d/webhooks", counterOf), least: access.Viewer, owner: []int{200}},
	"GET /api/v1/webhooks/{id}":          {path: pathOf("/api/v1/webhooks/%d", webhookOf), least: access.Viewer, owner: []int{200}},
	"DELETE /api/v1/webhooks/{id}": {path: pathOf("/api/v1/webhooks/%d", func(in ids, who string) int64 { return in.of(in.hookAPIDelete, who) }),
		least: access.Editor, owner: []int{204}, order: 1},
	"POST /api/v1/webhooks/{id}/enable":        {path: pathOf("/api/v1/webhooks/%d/enable", webhookOf), least: access.Editor, owner: []int{200}},
	"POST /api/v1/webhooks/{id}/test":          {path: pathOf("/api/v1/webhooks/%d/test", webhookOf), least: access.Editor, owner: []int{200}},
	"GET /api/v1/webhooks/{id}/deliveries":     {path: pathOf("/api/v1/webhooks/%d/deliveries", webhookOf), least: access.Viewer, owner: []int{200}},
	"POST /api/v1/imports/{id}/trigger/rotate": {path: pathOf("/api/v1/imports/%d/trigger/rotate", taskOf), least: access.Editor, owner: []int{200}},
	"POST /api/v1/alerts/channels": {path: fixed("/api/v1/alerts/channels"),
		body: func(in ids, who string) string {
			return jsonOf(map[string]any{"type": "webhook", "url": in.receiver + "/by-" + slug(who)})
		},
		least: access.Editor, owner: []int{201}, other: 201, check: noOwnerData},
	"GET /api/v1/alerts/channels": {path: fixed("/api/v1/alerts/channels"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"DELETE /api/v1/alerts/channels/{id}": {path: pathOf("/api/v1/alerts/channels/%d", func(in ids, who string) int64 { return in.of(in.chanAPIDelete, who) }),
		least: access.Editor, owner: []int{204}, order: 1},
	"POST /api/v1/alerts/channels/{id}/test": {path: pathOf("/api/v1/alerts/channels/%d/test", channelOf), least: access.Editor, owner: []int{200}},
	"GET /api/v1/alerts/incidents":           {path: fixed("/api/v1/alerts/incidents"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	// Order memory: reading a timeline and the mapping versions is everyone's, restoring one the
	// editors' (version 1 is the current mapping: restoring it changes nothing).
	"GET /api/v1/counters/{id}/orders/{order_id}/timeline": {path: func(in ids, _ string) string {
		return fmt.Sprintf("/api/v1/counters/%d/orders/%s/timeline", in.counter, in.order)
	}, least: access.Viewer, owner: []int{200}},
	"GET /api/v1/imports/{id}/mappings": {path: pathOf("/api/v1/imports/%d/mappings", taskOf), least: access.Viewer, owner: []int{200}},
	"POST /api/v1/imports/{id}/mappings/{version}/restore": {path: pathOf("/api/v1/imports/%d/mappings/1/restore", taskOf),
		least: access.Editor, owner: []int{200}},
	// RetailCRM's trigger: the token in the path is the credential, whoever calls.
	"GET /hooks/retailcrm/{token}":  {path: func(in ids, _ string) string { return in.trigger }, owner: []int{202}, open: true},
	"POST /hooks/retailcrm/{token}": {path: func(in ids, _ string) string { return in.trigger }, owner: []int{202}, open: true},

	// The web UI: public pages.
	"GET /static/": {path: fixed("/static/app.css"), owner: []int{200}, open: true},
	"GET /login":   {path: fixed("/login"), owner: []int{200, 303}, open: true},
	// An empty password is refused before the password hash is computed: a wrong one would
	// cost an argon2id derivation per principal for nothing this test looks at.
	"POST /login": {path: fixed("/login"), body: fixed("email=nobody%40example.com&password="), owner: []int{422}, open: true},
	// Without a pending sign-in there is no second step to take.
	"GET /login/2fa":  {path: fixed("/login/2fa"), owner: []int{410}, open: true},
	"POST /login/2fa": {path: fixed("/login/2fa"), body: fixed("code=123456"), owner: []int{410}, open: true},
	// Single sign-on starts for anyone; a callback that is not the answer to this browser's
	// start signs nobody in.
	"GET /auth/oidc/start":    {path: fixed("/auth/oidc/start"), owner: []int{302}, open: true},
	"GET /auth/oidc/callback": {path: fixed("/auth/oidc/callback?code=x&state=y"), owner: []int{400}, open: true},
	// An invitation is for a new user: a signed-in browser is refused, anyone else sets the
	// password (each principal has its own link).
	"GET /invite/{token}": {path: func(in ids, who string) string { return "/invite/" + in.invite[who] }, owner: []int{200}, open: true, want: inviteOpen},
	"POST /invite/{token}": {path: func(in ids, who string) string { return "/invite/" + in.invite[who] },
		body:  fixed("password=" + url.QueryEscape("a fine new password") + "&password_confirm=" + url.QueryEscape("a fine new password")),
		owner: []int{303}, open: true, want: inviteOpen},

	// The web UI: pages of the signed-in.
	"POST /logout":                    {path: fixed("/logout"), least: access.Viewer, owner: []int{303}, other: 303, order: 2},
	"GET /{$}":                        {path: fixed("/"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /counters":                  {path: fixed("/counters"), body: func(_ ids, who string) string { return "name=By+" + url.QueryEscape(who) + "&timezone=Europe%2FMoscow" }, least: access.Editor, owner: []int{303}, other: 303},
	"GET /counters/{id}":              {path: pathOf("/counters/%d", counterOf), least: access.Viewer, owner: []int{303}},
	"GET /counters/{id}/settings":     {path: pathOf("/counters/%d/settings", counterOf), least: access.Viewer, owner: []int{200}},
	"GET /counters/{id}/imports":      {path: pathOf("/counters/%d/imports", counterOf), least: access.Viewer, owner: []int{200}},
	"GET /counters/{id}/imports/new":  {path: pathOf("/counters/%d/imports/new", counterOf), least: access.Owner, owner: []int{200}},
	"POST /counters/{id}/imports/new": {path: pathOf("/counters/%d/imports/new", counterOf), body: uiFormBody, least: access.Owner, owner: []int{303}},
	"GET /imports/{id}":               {path: pathOf("/imports/%d", taskOf), least: access.Viewer, owner: []int{200}},
	"GET /imports/{id}/edit":          {path: pathOf("/imports/%d/edit", taskOf), least: access.Editor, owner: []int{200}},
	// The form sent with a typed key: replacing a key is the owners'.
	"POST /imports/{id}/edit":   {path: pathOf("/imports/%d/edit", taskOf), body: uiFormBody, least: access.Owner, owner: []int{303}},
	"POST /imports/{id}/run":    {path: pathOf("/imports/%d/run", taskOf), least: access.Editor, owner: []int{303}},
	"POST /imports/{id}/active": {path: pathOf("/imports/%d/active", taskOf), body: fixed("active=false"), least: access.Editor, owner: []int{303}},
	"POST /imports/{id}/resync": {path: pathOf("/imports/%d/resync", taskOf), least: access.Editor, owner: []int{303}},
	"GET /imports/{id}/delete":  {path: pathOf("/imports/%d/delete", taskOf), least: access.Editor, owner: []int{200}},
	"POST /imports/{id}/delete": {path: pathOf("/imports/%d/delete", func(in ids, who string) int64 { return in.of(in.uiDelete, who) }),
		least: access.Editor, owner: []int{303}, order: 1},
	"GET /counters/{id}/orders": {path: func(in ids, _ string) string { return fmt.Sprintf("/counters/%d/orders?format=csv", in.counter) },
		least: access.Viewer, owner: []int{200}},
	"GET /counters/{id}/orders/{order_id}": {path: func(in ids, _ string) string { return fmt.Sprintf("/counters/%d/orders/%s", in.counter, in.order) },
		least: access.Viewer, owner: []int{200}},
	"POST /imports/{id}/mappings/{version}/restore": {path: pathOf("/imports/%d/mappings/1/restore", taskOf), least: access.Editor, owner: []int{303}},
	"GET /audit":                        {path: fixed("/audit"), least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /imports/{id}/trigger/rotate": {path: pathOf("/imports/%d/trigger/rotate", taskOf), least: access.Editor, owner: []int{303}},
	"GET /counters/{id}/webhooks":       {path: pathOf("/counters/%d/webhooks", counterOf), least: access.Viewer, owner: []int{200}},
	"POST /counters/{id}/webhooks": {path: pathOf("/counters/%d/webhooks", counterOf),
		body: func(in ids, who string) string {
			return url.Values{"url": {in.receiver + "/ui-" + ownerMarker + "-" + slug(who)}}.Encode()
		},
		least: access.Editor, owner: []int{200}},
	"GET /webhooks/{id}":         {path: pathOf("/webhooks/%d", webhookOf), least: access.Viewer, owner: []int{200}},
	"POST /webhooks/{id}/test":   {path: pathOf("/webhooks/%d/test", webhookOf), least: access.Editor, owner: []int{200}},
	"POST /webhooks/{id}/enable": {path: pathOf("/webhooks/%d/enable", webhookOf), least: access.Editor, owner: []int{303}},
	"POST /webhooks/{id}/delete": {path: pathOf("/webhooks/%d/delete", func(in ids, who string) int64 { return in.of(in.hookUIDelete, who) }),
		least: access.Editor, owner: []int{303}, order: 1},
	"GET /alerts": {path: fixed("/alerts"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /alerts/channels": {path: fixed("/alerts/channels"),
		body: func(in ids, who string) string {
			return url.Values{"type": {"webhook"}, "url": {in.receiver + "/ui-by-" + slug(who)}}.Encode()
		},
		least: access.Editor, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /alerts/channels/{id}/test": {path: pathOf("/alerts/channels/%d/test", channelOf), least: access.Editor, owner: []int{200}},
	"POST /alerts/channels/{id}/delete": {path: pathOf("/alerts/channels/%d/delete", func(in ids, who string) int64 { return in.of(in.chanUIDelete, who) }),
		least: access.Editor, owner: []int{303}, order: 1},
	"GET /users": {path: fixed("/users"), least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /users": {path: fixed("/users"), body: func(_ ids, who string) string { return "email=ui-" + slug(who) + "%40example.com&role=viewer" },
		least: access.Owner, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /users/{id}/role":   {path: pathOf("/users/%d/role", targetOf), body: fixed("role=viewer"), least: access.Owner, owner: []int{303}},
	"GET /users/{id}/remove":  {path: pathOf("/users/%d/remove", targetOf), least: access.Owner, owner: []int{200}},
	"POST /users/{id}/remove": {path: pathOf("/users/%d/remove", func(in ids, _ string) int64 { return in.uiRemove }), least: access.Owner, owner: []int{303}, order: 1},
	// One's own settings: every user has them; another account's user gets their own.
	"GET /account": {path: fixed("/account"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /account/password": {path: fixed("/account/password"), body: fixed("current_password=not-mine&password=a+brand+new+one&password_confirm=a+brand+new+one"),
		least: access.Viewer, owner: []int{422}, other: 422},
	"GET /account/2fa":           {path: fixed("/account/2fa"), least: access.Viewer, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /account/2fa":          {path: fixed("/account/2fa"), body: fixed("code=000000"), least: access.Viewer, owner: []int{422}, other: 422},
	"POST /account/2fa/disable":  {path: fixed("/account/2fa/disable"), body: fixed("code=000000"), least: access.Viewer, owner: []int{303}, other: 303},
	"POST /account/2fa/recovery": {path: fixed("/account/2fa/recovery"), body: fixed("code=000000"), least: access.Viewer, owner: []int{303}, other: 303},

	// Everything else.
	"/":            {path: fixed("/no/such/page"), owner: []int{404}, open: true},
	"GET /healthz": {path: fixed("/healthz"), owner: []int{200}, open: true},
	"GET /readyz":  {path: fixed("/readyz"), owner: []int{200}, open: true},
	"GET /metrics": {path: fixed("/metrics"), owner: []int{200}, open: true, check: noOwnerData},
}

// emptyListExceptTheirs: another account's counter list holds its own counter only.
func emptyListExceptTheirs(t *testing.T, body string, in ids) {
	t.Helper()
	noOwnerData(t, body, in)
	var v struct{ Counters []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Counters {
		if c.ID == in.counter {
			t.Errorf("another account lists the owner's counter %d", in.counter)
		}
	}
}

func uiFormBody(in ids, _ string) string {
	return taskForm(ownerMarker+" UI", in.crm, crmemu.DemoKey, "save").Encode()
}

// rank orders the roles: a role may use a route whose least role ranks at most its own.
var rank = map[access.Role]int{access.Viewer: 1, access.Editor: 2, access.Owner: 3}

// expected is what who must get from the route.
func (c routeCase) expected(who string, isAPI bool) []int {
	if w, ok := c.want[who]; ok {
		return w
	}
	switch {
	case c.open || who == asOwner:
		return c.owner
	case who == asEditor || who == asViewer:
		role := access.Editor
		if who == asViewer {
			role = access.Viewer
		}
		if rank[role] >= rank[c.least] {
			return c.owner
		}
		return []int{http.StatusForbidden}
	case who == asOther && c.other != 0:
		return []int{c.other}
	case who == asOther:
		return []int{http.StatusNotFound}
	case isAPI:
		return []int{http.StatusUnauthorized}
	}
	return []int{http.StatusSeeOther}
}

// roleUser adds a user of the owner's account with a role, an API token and a signed-in browser.
func (e *secEnv) roleUser(email string, role access.Role) (store.User, string, *browser) {
	e.t.Helper()
	ctx := context.Background()
	u, _, err := e.app.Store.AddUserWithRole(ctx, email, ownerPassword, "Shop", true, role)
	if err != nil {
		e.t.Fatal(err)
	}
	token, _, err := e.app.Store.CreateToken(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, token, e.login(email, ownerPassword)
}

// createTask creates one of the owner's tasks through the API and returns its id.
func (e *secEnv) createTask(counter int64, name string, active bool) int64 {
	e.t.Helper()
	st, body := e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter), e.token, jsonOf(map[string]any{"name": name,
		"active": active, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}))
	if st != 201 {
		e.t.Fatalf("task %s: %d %s", name, st, body)
	}
	var obj struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &obj)
	return obj.ID
}

// startOIDC runs an identity provider on loopback for the test.
func startOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// TestRoleMatrix tries every route the service serves, enumerated from its mux, as the owner,
// an editor and a viewer of the account that owns the resources it names, as a user of another
// account, anonymously and with a revoked token, and asserts each one's status. A route added
// without a row fails the test.
func TestRoleMatrix(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 5, Orders: 20}, oidc: startOIDC(t)})
	ctx := context.Background()
	sys := access.System(ctx)
	in := ids{crm: e.crm, apiDelete: map[string]int64{}, uiDelete: map[string]int64{}, invite: map[string]string{},
		hookAPIDelete: map[string]int64{}, hookUIDelete: map[string]int64{}, chanAPIDelete: map[string]int64{}, chanUIDelete: map[string]int64{}}
	in.counter = e.createCounter(ownerMarker)
	var obj struct{ ID int64 }
	in.task = e.createTask(in.counter, ownerMarker, true)
	in.run = e.lastRun(in.task).ID
	in.order = "matrix-order-1"
	if _, err := e.app.Store.ApplyBatch(ctx, store.Batch{AccountID: e.acc, CounterID: in.counter, TaskID: in.task, Upserts: []store.OrderRow{{
		CRMID: 999_999, OrderID: in.order, OrderDate: "2026-01-01 10:00:00", OrderLocal: "2026-01-01 13:00:00", Revenue: "10", Hash: "matrix"}}}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{asOwner, asEditor} {
		in.apiDelete[who] = e.createTask(in.counter, ownerMarker+" api "+who, false)
		in.uiDelete[who] = e.createTask(in.counter, ownerMarker+" ui "+who, false)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer receiver.Close()
	in.receiver = receiver.URL
	hook := func() int64 {
		st, body := e.api("POST", fmt.Sprintf("/api/v1/counters/%d/webhooks", in.counter), e.token, jsonOf(map[string]any{"url": receiver.URL + "/" + ownerMarker}))
		if st != 201 {
			t.Fatalf("webhook: %d %s", st, body)
		}
		_ = json.Unmarshal([]byte(body), &obj)
		return obj.ID
	}
	channel := func() int64 {
		st, body := e.api("POST", "/api/v1/alerts/channels", e.token, jsonOf(map[string]any{"type": "webhook", "url": receiver.URL + "/alerts-" + ownerMarker}))
		if st != 201 {
			t.Fatalf("alert channel: %d %s", st, body)
		}
		_ = json.Unmarshal([]byte(body), &obj)
		return obj.ID
	}
	in.webhook, in.channel = hook(), channel()
	for _, who := range []string{asOwner, asEditor} {
		in.hookAPIDelete[who], in.hookUIDelete[who] = hook(), hook()
		in.chanAPIDelete[who], in.chanUIDelete[who] = channel(), channel()
	}
	var task struct {
		TriggerURL string `json:"trigger_url"`
	}
	_, body := e.api("GET", fmt.Sprintf("/api/v1/imports/%d", in.task), e.token, "")
	_ = json.Unmarshal([]byte(body), &task)
	in.trigger = strings.TrimPrefix(task.TriggerURL, e.base)
	target, _, _ := e.app.Store.AddUserWithRole(ctx, "target@example.com", ownerPassword, "Shop", true, access.Viewer)
	in.roleTarget = target.ID
	apiRemove, _, _ := e.app.Store.AddUserWithRole(ctx, "remove-api@example.com", ownerPassword, "Shop", true, access.Viewer)
	uiRemove, _, _ := e.app.Store.AddUserWithRole(ctx, "remove-ui@example.com", ownerPassword, "Shop", true, access.Viewer)
	in.apiRemove, in.uiRemove = apiRemove.ID, uiRemove.ID
	for _, who := range principals {
		inv, err := e.app.People.Invite(sys, e.acc, people.InviteInput{Email: ptr("invited-" + slug(who) + "@example.com")}, e.base, "ru")
		if err != nil {
			t.Fatal(err)
		}
		in.invite[who] = strings.TrimPrefix(inv.Link, e.base+"/invite/")
	}

	editor, editorToken, editorBrowser := e.roleUser("editor@example.com", access.Editor)
	viewer, viewerToken, viewerBrowser := e.roleUser("viewer@example.com", access.Viewer)
	ou, _, err := e.app.Store.AddUser(ctx, "other@example.com", "another long password", "Other", false)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _, _ := e.app.Store.CreateToken(ctx, ou.ID)
	oc, _ := e.app.Store.CreateCounter(ctx, ou.AccountID, "Theirs", "Europe/Moscow")
	in.otherCounter = oc.ID
	revoked, tok, _ := e.app.Store.CreateToken(ctx, e.user)
	if err := e.app.Store.RevokeToken(ctx, e.acc, tok.ID); err != nil {
		t.Fatal(err)
	}
	browsers := map[string]*browser{asOwner: e.login(ownerEmail, ownerPassword), asEditor: editorBrowser, asViewer: viewerBrowser,
		asOther: e.login("other@example.com", "another long password")}
	tokens := map[string]string{asOwner: e.token, asEditor: editorToken, asViewer: viewerToken, asOther: otherToken, asRevoked: revoked}

	routes := e.app.Routes()
	for _, r := range routes {
		if _, ok := matrix[r]; !ok {
			t.Errorf("route %q has no row in the role matrix: add one", r)
		}
	}
	for r, c := range matrix {
		if !slices.Contains(routes, r) {
			t.Errorf("the matrix names %q, which the service no longer serves", r)
		}
		if !c.open && c.least == "" {
			t.Errorf("%q names neither the least role that may use it nor that it is public", r)
		}
	}
	slices.SortStableFunc(routes, func(a, b string) int { return matrix[a].order - matrix[b].order })

	cells := 0
	for _, r := range routes {
		c, ok := matrix[r]
		if !ok {
			continue
		}
		method, _, _ := strings.Cut(r, " ")
		if !strings.Contains(r, " ") {
			method = "GET"
		}
		isAPI := strings.HasPrefix(c.path(in, asOwner), "/api/")
		send := func(who string) (int, string, http.Header) {
			t.Helper()
			path := c.path(in, who)
			var body string
			if c.body != nil {
				body = c.body(in, who)
			}
			if isAPI {
				req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
				if token := tokens[who]; token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Content-Type", "application/json")
				return e.request(http.DefaultClient, req)
			}
			b := browsers[who]
			if b == nil {
				b = e.newBrowser()
			}
			var req *http.Request
			if method == "GET" {
				req, _ = http.NewRequest(method, e.base+path, nil)
			} else {
				form, _ := url.ParseQuery(body)
				if b.csrf != "" {
					form.Set("csrf", b.csrf)
				}
				req, _ = http.NewRequest(method, e.base+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", e.base)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
			}
			if who == asRevoked {
				req.Header.Set("Authorization", "Bearer "+revoked)
			}
			return e.request(b.c, req)
		}
		for _, who := range principals {
			st, got, h := send(who)
			cells++
			want := c.expected(who, isAPI)
			if !slices.Contains(want, st) {
				t.Errorf("%s as %s: %d, want %v: %.300s", r, who, st, want, got)
				continue
			}
			if st == http.StatusForbidden && isAPI && !strings.Contains(got, `"code":"forbidden"`) {
				t.Errorf("%s as %s: a 403 without the code forbidden: %.200s", r, who, got)
			}
			if st == 303 && (who == asAnon || who == asRevoked) && !c.open {
				if loc := h.Get("Location"); !strings.HasPrefix(loc, "/login") {
					t.Errorf("%s as %s: sent to %q, want the login page", r, who, loc)
				}
			}
			if who == asOther && c.check != nil && st < 300 {
				c.check(t, got, in)
			}
			if who == asOther && st == 404 && strings.Contains(got, ownerMarker) {
				t.Errorf("%s as %s: the 404 names the owner's data", r, who)
			}
			if (who == asOwner || who == asEditor) && (strings.Contains(r, "runs") || strings.Contains(r, "resync") || strings.Contains(r, "/run")) {
				if run, err := e.app.Store.LastRun(ctx, e.acc, in.task); err == nil && run != nil {
					e.waitRun(run.ID)
				}
			}
		}
	}
	t.Logf("%d routes × %d principals = %d cells", len(routes), len(principals), cells)

	// Counts do not leak either: another account's own counter, filtered by the owner's task,
	// has nothing; its audit log has only its own events.
	st, body := e.api("GET", fmt.Sprintf("/api/v1/counters/%d/orders?import_id=%d&include_deleted=true", in.otherCounter, in.task), otherToken, "")
	if st != 200 || !strings.Contains(body, `"orders":[]`) {
		t.Errorf("another account filtering by the owner's task: %d %s", st, body)
	}
	st, body = e.api("GET", fmt.Sprintf("/api/v1/counters/%d/orders/summary?import_id=%d", in.otherCounter, in.task), otherToken, "")
	if st != 200 || !strings.Contains(body, `"orders":0`) {
		t.Errorf("another account's summary filtered by the owner's task: %d %s", st, body)
	}
	_, body = e.api("GET", "/api/v1/audit?limit=1000", otherToken, "")
	var audit struct {
		Events []struct{ Actor, Action, Target string }
	}
	_ = json.Unmarshal([]byte(body), &audit)
	for _, ev := range audit.Events {
		if ev.Actor != "other@example.com" && !strings.HasSuffix(ev.Actor, "-other@example.com") {
			t.Errorf("another account's audit log shows %+v", ev)
		}
	}

	// What the viewer was refused, with a valid CSRF token or API token, changed nothing: the
	// account's log holds no action of theirs but signing in and out; nothing is named after
	// them; the users they tried to change are as they were.
	events, _ := e.app.Store.AuditEvents(ctx, e.acc, 0, 1000)
	for _, ev := range events {
		if ev.UserID == viewer.ID && ev.Action != "login" && ev.Action != "logout" {
			t.Errorf("the viewer changed something: %+v", ev)
		}
		if ev.UserID == editor.ID && strings.HasPrefix(ev.Action, "user.") {
			t.Errorf("the editor managed users: %+v", ev)
		}
	}
	counters, _ := e.app.Store.Counters(ctx, e.acc)
	for _, c := range counters {
		if strings.Contains(c.Name, asViewer) {
			t.Errorf("a counter %q was created by the viewer", c.Name)
		}
	}
	got, _ := e.app.Store.UserByID(ctx, target.ID)
	if got.Role != access.Viewer {
		t.Errorf("the target's role is %s: the owner set it back to viewer last, nobody else may change it", got.Role)
	}
	for _, u := range []store.User{apiRemove, uiRemove} {
		if _, err := e.app.Store.UserByID(ctx, u.ID); err == nil {
			t.Errorf("%s was not removed by the owner", u.Email)
		}
	}
	if _, err := e.app.Store.UserByEmail(ctx, "api-viewer@example.com"); err == nil {
		t.Error("the viewer invited someone")
	}
	if _, err := e.app.Store.UserByEmail(ctx, "ui-editor@example.com"); err == nil {
		t.Error("the editor invited someone")
	}
	runs, _ := e.app.Store.Runs(ctx, e.acc, in.task, 100)
	for _, r := range runs {
		if r.TaskID != in.task {
			t.Errorf("run %d of another task listed", r.ID)
		}
	}
}

func ptr(s string) *string { return &s }
