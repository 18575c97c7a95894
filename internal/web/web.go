// Package web is the server-rendered UI: one route leads to one handler file and one
// template (miniflux style). Pages work without JavaScript; a small embedded script adds the
// live parts (connection check, preview and run progress through the JSON API). Russian is
// the default language, English a switch away; every word comes from the message catalogues
// of internal/locale, and every rule from the use cases of internal/tasks and internal/people:
// this package only reads forms, calls a use case and shows its answer or its messages. What the
// visitor's role may not do is not offered (the templates ask "can"), and refused with a page
// that says so when asked for anyway.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

//go:embed templates/*.html
var templatesFS embed.FS

//go:embed static
var staticFS embed.FS

// MaxFormBytes bounds a form post; the largest legitimate one (a task with twelve mapping
// expressions) is a few kilobytes.
const MaxFormBytes = 1 << 20

// Web serves the HTML UI.
type Web struct {
	Store  *store.Store
	Tasks  *tasks.Service
	People *people.Service
	Log    *slog.Logger
	Audit  *audit.Log // logouts; nil: not recorded (the sign-ins are the people use cases')

	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	clock           atomic.Pointer[func() time.Time]

	jsCatalogs    map[string]map[string]string
	pages         map[string]map[string]*template.Template // language → page file → template
	staticVersion string
}

// New parses the templates and catalogues; errors here are programming errors caught by
// every test that builds the UI.
func New(st *store.Store, svc *tasks.Service, ppl *people.Service, log *slog.Logger) (*Web, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Web{Store: st, Tasks: svc, People: ppl, Log: log, IdleTimeout: DefaultIdleTimeout, AbsoluteTimeout: DefaultAbsoluteTimeout}
	if err := locale.Check(); err != nil {
		return nil, err
	}
	h.jsCatalogs = map[string]map[string]string{}
	for _, lang := range locale.Languages {
		h.jsCatalogs[lang] = forScript(locale.For(lang))
	}
	var err error
	if h.pages, err = h.parseTemplates(); err != nil {
		return nil, err
	}
	if h.staticVersion, err = staticDigest(); err != nil {
		return nil, err
	}
	return h, nil
}

// SetClock replaces the clock the session timeouts are measured with (tests); safe while
// serving.
func (h *Web) SetClock(now func() time.Time) { h.clock.Store(&now) }

func (h *Web) now() time.Time {
	if f := h.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Mux is where routes are mounted: an *http.ServeMux, or a wrapper that also records the
// patterns (the role matrix test enumerates every route from it).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register mounts the UI's routes.
func (h *Web) Register(mux Mux) {
	mux.Handle("GET /static/", h.static())
	mux.HandleFunc("GET /login", h.login)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("GET /login/2fa", h.secondFactor)
	mux.HandleFunc("POST /login/2fa", h.secondFactor)
	mux.HandleFunc("GET /auth/oidc/start", h.ssoStart)
	mux.HandleFunc("GET /auth/oidc/callback", h.ssoCallback)
	mux.HandleFunc("GET /invite/{token}", h.invitation)
	mux.HandleFunc("POST /invite/{token}", h.invitation)
	mux.Handle("POST /logout", h.user(h.logout))
	mux.Handle("GET /{$}", h.user(h.home))
	mux.Handle("POST /counters", h.user(h.createCounter))
	mux.Handle("GET /counters/{id}", h.user(h.counter))
	mux.Handle("GET /counters/{id}/settings", h.user(h.settings))
	mux.Handle("GET /counters/{id}/imports", h.user(h.imports))
	mux.Handle("GET /counters/{id}/imports/new", h.user(h.taskForm))
	mux.Handle("POST /counters/{id}/imports/new", h.user(h.taskForm))
	mux.Handle("GET /imports/{id}", h.user(h.task))
	mux.Handle("GET /imports/{id}/edit", h.user(h.taskForm))
	mux.Handle("POST /imports/{id}/edit", h.user(h.taskForm))
	mux.Handle("POST /imports/{id}/run", h.user(h.runNow))
	mux.Handle("POST /imports/{id}/active", h.user(h.setActive))
	mux.Handle("POST /imports/{id}/resync", h.user(h.resync))
	mux.Handle("POST /imports/{id}/mappings/{version}/restore", h.user(h.restoreMapping))
	mux.Handle("GET /imports/{id}/delete", h.user(h.deleteTask))
	mux.Handle("POST /imports/{id}/delete", h.user(h.deleteTask))
	mux.Handle("GET /counters/{id}/orders", h.user(h.orders))
	mux.Handle("GET /counters/{id}/orders/{order_id}", h.user(h.order))
	mux.Handle("GET /audit", h.user(h.auditLog))
	mux.Handle("GET /users", h.user(h.users))
	mux.Handle("POST /users", h.user(h.users))
	mux.Handle("POST /users/{id}/role", h.user(h.userRole))
	mux.Handle("GET /users/{id}/remove", h.user(h.userRemove))
	mux.Handle("POST /users/{id}/remove", h.user(h.userRemove))
	mux.Handle("GET /account", h.user(h.account))
	mux.Handle("POST /account/password", h.user(h.accountPassword))
	mux.Handle("GET /account/2fa", h.user(h.totpEnrol))
	mux.Handle("POST /account/2fa", h.user(h.totpEnrol))
	mux.Handle("POST /account/2fa/disable", h.user(h.totpDisable))
	mux.Handle("POST /account/2fa/recovery", h.user(h.totpRecovery))
	mux.Handle("POST /imports/{id}/trigger/rotate", h.user(h.rotateTrigger))
	mux.Handle("GET /counters/{id}/webhooks", h.user(h.webhooks))
	mux.Handle("POST /counters/{id}/webhooks", h.user(h.webhooks))
	mux.Handle("GET /webhooks/{id}", h.user(h.webhook))
	mux.Handle("POST /webhooks/{id}/test", h.user(h.testWebhook))
	mux.Handle("POST /webhooks/{id}/enable", h.user(h.enableWebhook))
	mux.Handle("POST /webhooks/{id}/delete", h.user(h.deleteWebhook))
	mux.Handle("GET /alerts", h.user(h.alerts))
	mux.Handle("POST /alerts/channels", h.user(h.createChannel))
	mux.Handle("POST /alerts/channels/{id}/test", h.user(h.testChannel))
	mux.Handle("POST /alerts/channels/{id}/delete", h.user(h.deleteChannel))
	mux.HandleFunc("/", h.notFound)
}

// view is what every page template sees: the language, the visitor, the navigation and the
// page's own data.
type view struct {
	Lang        string
	OtherLang   string
	OtherLangTo string
	Visitor     *visitor
	Path        string
	Static      string
	Title       string
	Counter     *store.Counter
	Section     string // "orders" | "settings": the counter tab that is open
	Crumbs      []crumb
	Notice      string            // a catalogue key, from ?done= after a redirect
	Refresh     int               // seconds; a running import reloads itself when JavaScript is off
	JS          map[string]string // the catalogue entries the script shows
	Data        any

	p *locale.Printer
}

type crumb struct {
	Label string
	Href  string
	Data  bool // the label is a user's name for something, not the product's words
}

// T translates for handlers (templates use the t function).
func (v *view) T(key string, args ...any) string { return v.p.T(key, args...) }

// Msg renders a message of the layers below in the visitor's language, as HTML: its words
// escaped, each argument shown as it is (a value, a name, an address) marked as data.
func (v *view) Msg(m locale.Message) template.HTML {
	return template.HTML(v.p.MsgMarked(m, template.HTMLEscapeString, dataHTML))
}

// Text is a catalogue entry as HTML, for places that also show messages.
func (v *view) Text(key string, args ...any) template.HTML {
	return template.HTML(template.HTMLEscapeString(v.T(key, args...)))
}

// dataHTML marks text that is not the product's words — what a user typed, what RetailCRM
// holds — with translate="no": translation tools leave it alone, and the language test of the
// pages tells it from words.
func dataHTML(s string) string {
	return `<span translate="no">` + template.HTMLEscapeString(s) + `</span>`
}

// notices are the messages a redirect may ask for; anything else in ?done= is ignored.
var notices = map[string]string{
	"counter_created":  "notice.counter_created",
	"task_saved":       "notice.task_saved",
	"task_deleted":     "notice.task_deleted",
	"run_queued":       "notice.run_queued",
	"resync_queued":    "notice.resync_queued",
	"resync_busy":      "notice.resync_busy",
	"paused":           "notice.paused",
	"resumed":          "notice.resumed",
	"logged_out":       "notice.logged_out",
	"role_changed":     "notice.role_changed",
	"user_removed":     "notice.user_removed",
	"password_set":     "notice.password_set",
	"totp_off":         "notice.totp_off",
	"welcome":          "notice.welcome",
	"trigger_rotated":  "notice.trigger_rotated",
	"webhook_enabled":  "notice.webhook_enabled",
	"webhook_deleted":  "notice.webhook_deleted",
	"channel_deleted":  "notice.channel_deleted",
	"mapping_restored": "notice.mapping_restored",
	"mapping_invalid":  "notice.mapping_invalid",
}

func (h *Web) newView(w http.ResponseWriter, r *http.Request, v *visitor) *view {
	lang := requestLang(w, r)
	other := "en"
	if lang == "en" {
		other = "ru"
	}
	vw := &view{Lang: lang, OtherLang: other, OtherLangTo: langSwitchURL(r, other), Visitor: v, Path: r.URL.Path,
		Static: h.staticVersion, p: locale.For(lang)}
	vw.Notice = notices[r.URL.Query().Get("done")]
	vw.JS = h.jsCatalogs[lang]
	return vw
}

func (h *Web) parseTemplates() (map[string]map[string]*template.Template, error) {
	names, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*template.Template{}
	for _, lang := range locale.Languages {
		base, err := template.New("").Funcs(h.funcs(lang)).ParseFS(templatesFS, "templates/_*.html")
		if err != nil {
			return nil, fmt.Errorf("web: parse layout: %w", err)
		}
		out[lang] = map[string]*template.Template{}
		for _, n := range names {
			file := path.Base(n)
			if strings.HasPrefix(file, "_") {
				continue
			}
			t, err := template.Must(base.Clone()).ParseFS(templatesFS, n)
			if err != nil {
				return nil, fmt.Errorf("web: parse %s: %w", file, err)
			}
			out[lang][file] = t
		}
	}
	return out, nil
}

func (h *Web) render(w http.ResponseWriter, r *http.Request, vw *view, page string, data any) {
	h.renderStatus(w, r, vw, http.StatusOK, page, data)
}

// renderStatus executes the page into a buffer first, so that a template error becomes a
// clean 500 instead of half a page.
func (h *Web) renderStatus(w http.ResponseWriter, r *http.Request, vw *view, status int, page string, data any) {
	if ep, ok := data.(errorPage); ok {
		vw.Title = vw.T(ep.Title)
	}
	t := h.pages[vw.Lang][page]
	if t == nil {
		h.Log.Error("no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	vw.Data = data
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", vw); err != nil {
		h.Log.Error("render page", "page", page, "path", r.URL.Path, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry account data: never cached by anything between the browser and us.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	Title    string // catalogue keys
	Text     string
	Message  template.HTML // words already rendered (a use case's message, view.Msg), shown instead of Text
	Link     string        // where to go on, "" for the start page
	LinkText string        // its catalogue key
}

// fail answers an error from the layers below: absent (or another account's) is a 404 page,
// what the visitor's role may not do a 403 page, anything else is logged and a 500 page says so
// without details.
func (h *Web) fail(w http.ResponseWriter, r *http.Request, vw *view, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.renderStatus(w, r, vw, http.StatusNotFound, "error.html", errorPage{Title: "error.notfound.title", Text: "error.notfound.text"})
		return
	}
	if store.IsBusy(err) {
		// The database is away or every connection is taken: a moment later it answers.
		w.Header().Set("Retry-After", "5")
		h.renderStatus(w, r, vw, http.StatusServiceUnavailable, "error.html", errorPage{Title: "error.busy.title", Text: "error.busy.text"})
		return
	}
	if store.IsDiskFull(err) {
		// The write was rolled back whole: nothing of the form was kept.
		h.renderStatus(w, r, vw, http.StatusInsufficientStorage, "error.html", errorPage{Title: "error.full.title", Text: "error.full.text"})
		return
	}
	if errors.Is(err, access.ErrForbidden) {
		h.renderStatus(w, r, vw, http.StatusForbidden, "error.html", errorPage{Title: "error.forbidden.title", Text: "error.forbidden.text"})
		return
	}
	h.Log.Error("page failed", "method", r.Method, "path", r.URL.Path, "error", err)
	h.renderStatus(w, r, vw, http.StatusInternalServerError, "error.html", errorPage{Title: "error.internal.title", Text: "error.internal.text"})
}

// may asks the role model whether the visitor may take the actions a page leads to (a form that
// only they may send) and answers the 403 page when not.
func (h *Web) may(w http.ResponseWriter, r *http.Request, vw *view, perms ...access.Permission) bool {
	if err := access.Require(r.Context(), vw.Visitor.User.AccountID, perms...); err != nil {
		h.fail(w, r, vw, err)
		return false
	}
	return true
}

func (h *Web) notFound(w http.ResponseWriter, r *http.Request) {
	v, err := h.lookup(r)
	if err != nil {
		v = nil
	}
	h.renderStatus(w, r, h.newView(w, r, v), http.StatusNotFound, "error.html", errorPage{Title: "error.notfound.title", Text: "error.notfound.text"})
}

// pathID reads {id}; a malformed id names nothing, so it is simply not found.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, store.ErrNotFound
	}
	return id, nil
}

// redirect ends a successful form post (post/redirect/get).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func withDone(p, done string) string {
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	return p + sep + "done=" + done
}

func (h *Web) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Links carry ?v=<digest of the files>, so a new release is fetched at once and
		// browsers may keep the files for a long time.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
}

func staticDigest() (string, error) {
	sum := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum.Write([]byte(p))
		sum.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("web: static files: %w", err)
	}
	return hex.EncodeToString(sum.Sum(nil))[:12], nil
}
