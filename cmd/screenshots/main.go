// Command screenshots renders every page of the web UI at desktop (1280px) and phone (390px)
// width into PNG files, against a real service and the RetailCRM emulator, in headless
// Chromium (/usr/bin/chromium):
//
//	go run ./cmd/screenshots -out docs/screenshots
//
// It builds a realistic account first (a counter with imported orders, a task that needs
// attention, a task in the middle of a slow import), then visits each page as a user would.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/web/uitest"
)

func main() {
	out := flag.String("out", "docs/screenshots", "directory for the PNG files")
	only := flag.String("only", "", "render only the page with this name (e.g. orders)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

// shot is one page: how to get there (from a logged-in browser) and its file name.
type shot struct {
	name string
	open func(ctx context.Context) error
}

type widthSpec struct {
	suffix        string
	width, height int64
	mobile        bool
}

var widths = []widthSpec{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}}

// maxHeight cuts very long pages (fifty orders as cards on a phone): past it they only repeat.
const maxHeight = 6000

func run(ctx context.Context, out, only string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "orderimport-screens-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The wholesale store sells in tenge: totals per currency, as a two-currency account sees them.
	srv, err := uitest.Start(ctx, tmp, crmemu.Options{Seed: 3, Orders: 900, Keys: map[string]crmemu.KeyConfig{
		crmemu.DemoKey: crmemu.FullAccess(), "old-key-0000": crmemu.FullAccess()}, Currencies: map[string]string{crmemu.SiteOpt: "KZT"}}, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	// A second, slow RetailCRM account: its import is still running when its page is shown.
	slow := crmemu.New(crmemu.Options{Seed: 4, Orders: 20000, Latency: 400 * time.Millisecond, OrderSize: "small"})
	slowURL, err := slow.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	ids, err := seed(ctx, srv, slowURL)
	if err != nil {
		return err
	}

	bctx, cancel, err := uitest.Browser(ctx, filepath.Join(tmp, "profile"), 1280, 900)
	if err != nil {
		return err
	}
	defer cancel()

	nav := func(path string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(srv.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
		}
	}
	c, t := strconv.FormatInt(ids.counter, 10), strconv.FormatInt(ids.task, 10)
	shots := []shot{
		{"home", nav("/")},
		{"settings", nav("/counters/" + c + "/settings")},
		{"imports", nav("/counters/" + c + "/imports")},
		{"new-connection", nav("/counters/" + c + "/imports/new")},
		{"new-connection-checked", func(ctx context.Context) error {
			return chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/counters/"+c+"/imports/new"),
				chromedp.WaitVisible(chromedp.ID("f-url")),
				chromedp.SendKeys(chromedp.ID("f-url"), srv.CRM),
				chromedp.SendKeys(chromedp.ID("f-key"), crmemu.DemoKey),
				centered(`[data-js="check"]`),
				chromedp.Click(chromedp.CSS(`[data-js="check"]`)),
				chromedp.WaitVisible(chromedp.CSS("#check-result .check-ok")),
				chromedp.WaitVisible(chromedp.ID("cg-cancel")),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := chromedp.Poll[bool](`document.getElementById("estimate-result").textContent.startsWith("≈")`,
						chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
					return err
				}),
				chromedp.SendKeys(chromedp.ID("f-name"), "Заказы"),
				centered(`[data-js="preview"]`),
				chromedp.Click(chromedp.CSS(`[data-js="preview"]`)),
				chromedp.WaitVisible(chromedp.CSS("#preview-result tbody tr")),
			)
		}},
		{"new-connection-errors", func(ctx context.Context) error {
			return chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/counters/"+c+"/imports/new"),
				chromedp.WaitVisible(chromedp.ID("f-url")),
				chromedp.SendKeys(chromedp.ID("f-url"), srv.CRM),
				chromedp.SendKeys(chromedp.ID("f-key"), "wrong-key"),
				chromedp.SetValue(chromedp.ID("map-order_id"), "__expr"),
				chromedp.SetValue(chromedp.ID("map-profit"), "__expr"),
				chromedp.SendKeys(chromedp.ID("map-profit-expr"), "totalSumm -"),
				uitest.Submit(chromedp.CSS(`button[value="save"]`)),
				chromedp.WaitVisible(chromedp.ID("error-summary")),
			)
		}},
		{"task", nav("/imports/" + t)},
		{"task-running", nav("/imports/" + strconv.FormatInt(ids.running, 10))},
		{"task-attention", nav("/imports/" + strconv.FormatInt(ids.attention, 10))},
		{"edit", nav("/imports/" + t + "/edit")},
		{"delete", nav("/imports/" + t + "/delete")},
		{"orders", nav("/counters/" + c + "/orders")},
		{"orders-filtered", nav("/counters/" + c + "/orders?status=complete&from=" + time.Now().AddDate(0, -1, 0).Format("2006-01-02"))},
		{"orders-en", nav("/counters/" + c + "/orders?lang=en")},
		{"orders-uncounted", nav("/counters/" + c + "/orders?counted=false")},
		{"order", nav("/counters/" + c + "/orders/" + strconv.Itoa(historyOrder))},
		{"webhooks", nav("/counters/" + c + "/webhooks")},
		{"alerts", nav("/alerts")},
		{"users", nav("/users")},
		{"audit", nav("/audit")},
		{"not-found", nav("/counters/999")},
	}

	for _, w := range widths {
		opts := []chromedp.EmulateViewportOption{}
		if w.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(w.width, w.height, opts...)); err != nil {
			return err
		}
		// Logged out first: the login page, reached the way the original K50 help page
		// describes (opening the new connection form redirects to it).
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/counters/"+c+"/imports/new"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
			return err
		}
		if err := save(bctx, out, "login", w, only); err != nil {
			return err
		}
		if err := chromedp.Do(bctx, srv.Login()); err != nil {
			return err
		}
		for _, s := range shots {
			if only != "" && s.name != only {
				continue
			}
			// A page that never shows what it waits for fails the run instead of hanging it.
			sctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
			err := s.open(sctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%s (%s): %w", s.name, w.suffix, err)
			}
			if err := save(bctx, out, s.name, w, only); err != nil {
				return err
			}
			if s.name == "orders-en" {
				if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/?lang=ru")); err != nil {
					return err
				}
			}
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), uitest.Submit(chromedp.CSS(`form[action="/logout"] button`))); err != nil {
			return err
		}
	}
	return nil
}

func save(ctx context.Context, out, name string, w widthSpec, only string) error {
	if only != "" && name != only {
		return nil
	}
	png, err := chromedp.Run(ctx, uitest.FullPage(w.width, w.height, maxHeight, w.mobile))
	if err != nil {
		return fmt.Errorf("%s (%s): %w", name, w.suffix, err)
	}
	path := filepath.Join(out, name+"-"+w.suffix+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// historyOrder is the RetailCRM id (and, under the default mapping, the order id) of the order
// whose page shows a history.
const historyOrder = 7

// centered scrolls the element sel names to the middle of the viewport: a click chromedp scrolls
// to lands at the viewport's edge, where on a phone the sticky header takes it.
func centered(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { document.querySelector(`+strconv.Quote(sel)+`).scrollIntoView({block: "center"}); return true; })()`)(ctx, t)
		return err
	})
}

type seeded struct {
	counter, task, attention, running int64
}

// seed builds the account the screenshots show: the main counter with a finished import, a
// task whose key RetailCRM no longer accepts, and a second counter whose import is running.
func seed(ctx context.Context, srv *uitest.Server, slowURL string) (seeded, error) {
	st, svc, acc := srv.App.Store, srv.App.Tasks, srv.AccountID
	ctx = access.System(ctx)
	var ids seeded
	main, err := st.CreateCounter(ctx, acc, "Интернет-магазин", "Europe/Moscow")
	if err != nil {
		return ids, err
	}
	ids.counter = main.ID
	other, err := st.CreateCounter(ctx, acc, "Второй магазин", "Asia/Yekaterinburg")
	if err != nil {
		return ids, err
	}
	task, err := svc.Create(ctx, acc, main.ID, input("Заказы RetailCRM", srv.CRM, crmemu.DemoKey, true,
		map[string]string{"session_id": "customFields." + crmemu.FieldSessionID, "user_id": "customFields." + crmemu.FieldUserID}))
	if err != nil {
		return ids, fmt.Errorf("create the main task: %w", err)
	}
	ids.task = task.ID
	if _, err := srv.WaitRuns(ctx, task.ID, 2*time.Minute); err != nil {
		return ids, err
	}
	// An order that changed in RetailCRM after the import, twice: its page shows its history.
	for _, changes := range [][]crmemu.Change{
		{{Field: "status", Value: "complete"}, {Field: "customer_comment", Value: "Позвонить после 18:00"}},
		{{Field: "phone", Value: "+7 (912) 345-67-89"}},
	} {
		if err := srv.Emu.UpdateOrder(historyOrder, changes...); err != nil {
			return ids, err
		}
		if _, err := svc.RunNow(ctx, acc, task.ID); err != nil {
			return ids, err
		}
		if _, err := srv.WaitRuns(ctx, task.ID, time.Minute); err != nil {
			return ids, err
		}
	}
	old, err := svc.Create(ctx, acc, main.ID, input("Заказы (старый ключ)", srv.CRM, "old-key-0000", false, nil))
	if err != nil {
		return ids, fmt.Errorf("create the task with the old key: %w", err)
	}
	ids.attention = old.ID
	srv.Emu.RemoveKey("old-key-0000")
	if _, err := svc.RunNow(ctx, acc, old.ID); err != nil {
		return ids, err
	}
	if _, err := srv.WaitRuns(ctx, old.ID, time.Minute); err != nil {
		return ids, err
	}
	running, err := svc.Create(ctx, acc, other.ID, input("Заказы второго магазина", slowURL, crmemu.DemoKey, true, nil))
	if err != nil {
		return ids, fmt.Errorf("create the slow task: %w", err)
	}
	ids.running = running.ID
	// Let the slow run make some progress, so that the live view has numbers to show.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		r, err := st.LastRun(ctx, acc, running.ID)
		if err != nil {
			return ids, err
		}
		if r != nil && r.Status == store.RunRunning && r.ProgressDone > 0 && r.Counts.Fetched > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ids, nil
}

func input(name, url, key string, active bool, mapping map[string]string) tasks.Input {
	freq := 1
	in := tasks.Input{Name: &name, Active: &active, FrequencyHours: &freq,
		RetailCRM: &tasks.RetailCRMInput{URL: &url, APIKey: &key}}
	if mapping != nil {
		in.Mapping = map[string]*string{}
		for k, v := range mapping {
			v := v
			in.Mapping[k] = &v
		}
	}
	return in
}
