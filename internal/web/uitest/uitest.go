// Package uitest drives the whole service (internal/servicetest: real SQLite, River workers,
// HTTP, the web UI, a RetailCRM emulator) with Debian's Chromium through chromedp. The browser
// tests of the web UI and the screenshot command share it, so the screenshots show exactly
// what the tests click through.
package uitest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/servicetest"
)

// ChromiumPath is where Debian's chromium package puts the browser (`apt-get install chromium`).
const ChromiumPath = "/usr/bin/chromium"

// The login of the account every Server starts with.
const (
	Email    = servicetest.Email
	Password = servicetest.Password
)

// Server is a running service with its emulator (internal/servicetest), driven by a browser.
type Server struct {
	*servicetest.Service
}

// Start runs a service on a fresh SQLite database in dir and an emulator with emu's options,
// assembled as every test of the whole service does it (internal/servicetest). Private CRM
// addresses are allowed: the emulator listens on loopback.
func Start(ctx context.Context, dir string, emu crmemu.Options, log *slog.Logger) (*Server, error) {
	return StartWith(ctx, dir, emu, log, nil)
}

// StartWith is Start with the service's configuration adjusted by configure (single sign-on,
// trusted proxies) before it is assembled; configure learns the service's URL too.
func StartWith(ctx context.Context, dir string, emu crmemu.Options, log *slog.Logger, configure func(cfg *config.Config, url string)) (*Server, error) {
	s, err := servicetest.Start(ctx, servicetest.Options{Emulator: emu, Log: log, Dir: dir, Configure: configure})
	if err != nil {
		return nil, fmt.Errorf("uitest: %w", err)
	}
	return &Server{Service: s}, nil
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
