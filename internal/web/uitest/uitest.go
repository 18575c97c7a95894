// Package uitest runs the whole service (real SQLite, River workers, HTTP, the web UI) in front
// of a RetailCRM emulator, and drives it with Debian's Chromium through chromedp. The browser
// tests of the web UI and the screenshot command share it, so the screenshots show exactly
// what the tests click through.
package uitest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

// ChromiumPath is where Debian's chromium package puts the browser (`apt-get install chromium`).
const ChromiumPath = "/usr/bin/chromium"

// The login of the account every Server starts with.
const (
	Email    = "owner@example.com"
	Password = "correct horse battery"
)

// Server is a running service with its emulator, both on httptest servers.
type Server struct {
	App       *app.App
	URL       string // the service, http://127.0.0.1:port
	CRM       string // the emulator's URL, for the connection form
	Emu       *crmemu.Emulator
	AccountID int64
	UserID    int64

	http, crm *httptest.Server
	cancel    context.CancelFunc
}

// Start runs a service on a fresh SQLite database in dir (real River workers, the full HTTP
// handler with its security headers) and an emulator with emu's options, assembled like the
// end-to-end test of internal/app. Private CRM addresses are allowed: the emulator listens on
// loopback.
func Start(ctx context.Context, dir string, emu crmemu.Options, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(ctx)
	e := crmemu.New(emu)
	crm := httptest.NewServer(e)
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: filepath.Join(dir, "ui.db")}, AllowPrivate: true}
	a, err := app.New(ctx, cfg, log, app.Options{Workers: 2, Migrate: true,
		Jobs: jobs.Config{Slice: 20 * time.Second, TickInterval: time.Hour}})
	if err != nil {
		cancel()
		crm.Close()
		return nil, fmt.Errorf("uitest: assemble the service: %w", err)
	}
	fail := func(err error) (*Server, error) {
		cancel()
		crm.Close()
		a.Close()
		return nil, err
	}
	u, _, err := a.Store.AddUser(ctx, Email, Password, "Shop", false)
	if err != nil {
		return fail(fmt.Errorf("uitest: add the user: %w", err))
	}
	if err := a.Jobs.Start(ctx); err != nil {
		return fail(fmt.Errorf("uitest: start the workers: %w", err))
	}
	srv := httptest.NewServer(a.Handler())
	return &Server{App: a, URL: srv.URL, CRM: crm.URL, Emu: e, AccountID: u.AccountID, UserID: u.ID,
		http: srv, crm: crm, cancel: cancel}, nil
}

// Close stops the service (letting running pages commit) and the emulator.
func (s *Server) Close() error {
	s.http.Close()
	sctx, cancel := context.WithTimeout(context.Background(), config.ShutdownTimeout)
	defer cancel()
	err := s.App.Jobs.Stop(sctx)
	s.cancel()
	s.crm.Close()
	return errors.Join(err, s.App.Close())
}

// WaitRuns waits until no run of the account's task is queued or running, polling the store
// with a deadline.
func (s *Server) WaitRuns(ctx context.Context, taskID int64, timeout time.Duration) (store.Run, error) {
	deadline := time.Now().Add(timeout)
	for {
		run, err := s.App.Store.LastRun(ctx, s.AccountID, taskID)
		if err != nil {
			return store.Run{}, err
		}
		if run != nil && run.Finished() {
			return *run, nil
		}
		if time.Now().After(deadline) {
			return store.Run{}, fmt.Errorf("uitest: task %d still has a run going after %s", taskID, timeout)
		}
		select {
		case <-ctx.Done():
			return store.Run{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ErrNoChromium says the browser is not installed.
var ErrNoChromium = errors.New("uitest: " + ChromiumPath + " is not installed (apt-get install -y chromium)")

// Browser starts a headless Chromium with a fresh profile in dir and the given window size,
// with the project's flags: no sandbox (CI runs as root), no GPU, no background traffic.
func Browser(ctx context.Context, dir string, width, height int) (context.Context, context.CancelFunc, error) {
	if _, err := os.Stat(ChromiumPath); err != nil {
		return nil, nil, ErrNoChromium
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "ru-RU"),
		// On Linux the browser's own language (date fields, built-in messages) follows the
		// environment, not --lang; Debian's chromium-l10n holds its Russian.
		chromedp.Env("LANGUAGE=ru", "LANG=ru_RU.UTF-8"),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	cancel := func() { cancelBrowser(); cancelAlloc() }
	// Start the browser now, with no deadline of its own: later actions may carry timeouts.
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("uitest: start chromium: %w", err)
	}
	return bctx, cancel, nil
}

// Viewport sets the page's width (CSS pixels) and a window height.
func Viewport(width, height int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(width, height)
}

// Login logs in through the login form, from wherever the browser is.
func (s *Server) Login() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), Email),
		chromedp.SendKeys(chromedp.ID("password"), Password),
		Submit(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}

// Submit clicks a button or link that loads a new page and waits for that page.
func Submit[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.RunResponse(ctx, chromedp.Click(sel, chromedp.NodeVisible))
		return err
	})
}

// FullPage captures the whole page, not only the window, up to maxHeight CSS pixels (0: no
// limit; long lists repeat themselves). The viewport (width × height, mobile or not, as the
// caller emulates it) is stretched to the captured height, so that sticky parts sit where a
// reader scrolling down would see them last, and then put back.
func FullPage(width, height, maxHeight int64, mobile bool) chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		resize := func(h int64) error {
			_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: width, Height: h, DeviceScaleFactor: 1, Mobile: mobile})
			return err
		}
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, fmt.Errorf("uitest: layout metrics: %w", err)
		}
		full := max(height, int64(math.Ceil(m.CSSContentSize.Height)))
		if maxHeight > 0 {
			full = min(full, maxHeight)
		}
		if err := resize(full); err != nil {
			return nil, fmt.Errorf("uitest: stretch the viewport: %w", err)
		}
		defer resize(height)
		beyond, surface := true, true
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: &beyond, FromSurface: &surface,
			Clip: &page.Viewport{X: 0, Y: 0, Width: float64(width), Height: float64(full), Scale: 1},
		})
		if err != nil {
			return nil, fmt.Errorf("uitest: capture: %w", err)
		}
		return r.Data, nil
	}
}
