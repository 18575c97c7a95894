package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"orderimport/internal/crmemu"
	"orderimport/internal/store"
)

// Under pii=hash no clear phone, email or name of an order is anywhere the service keeps or
// says things: not in the database file (orders, kept raw orders, timeline, run issues), not in
// the logs at debug level, not in any API or UI answer. The same scan over a pii=keep task finds
// them (so the scan can see what it looks for), and after that task switches to hash, the
// rewrite leaves none behind either, not even in the database file's free space.
func TestNoClearContactsUnderPIIHash(t *testing.T) {
	t.Run("hash from the start", func(t *testing.T) {
		t.Parallel()
		p := newPIIScene(t, "hash")
		p.use()
		p.assertNone("pii=hash")
	})
	t.Run("keep, then hash", func(t *testing.T) {
		t.Parallel()
		p := newPIIScene(t, "keep")
		p.use()
		// The control: the same scan finds the values where a keep task stores and shows them.
		db := string(p.e.dbBytes())
		if n := p.found(db); n < len(p.phones)*9/10 {
			t.Fatalf("the scan found %d of %d clear phones in a keep task's database file: it cannot see them", n, len(p.phones))
		}
		if n := p.found(p.e.seen.String()); n < len(p.phones)*9/10 {
			t.Fatalf("the scan found %d of %d clear phones in a keep task's answers", n, len(p.phones))
		}
		if !strings.Contains(p.e.seen.String(), p.invalid) {
			t.Fatalf("a keep task's run issue does not show the invalid phone %q", p.invalid)
		}

		// Switching to hash rewrites what is stored (a re-map of the kept copies).
		last := p.lastRun()
		st, body := p.e.api("PATCH", fmt.Sprintf("/api/v1/imports/%d", p.task), p.e.token, `{"pii":"hash"}`)
		if st != 200 {
			t.Fatalf("switch to hash: %d %s", st, body)
		}
		if r := p.waitRunAfter(last); r.Kind != store.RunRemap || (r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings) {
			t.Fatalf("the switch ran %s, %s: %s", r.Kind, r.Status, r.Error)
		}
		p.e.seen = &syncBuffer{}
		p.e.logs = &syncBuffer{}
		p.use()
		p.assertNone("after switching from keep to hash")
	})
}

// piiScene is a service with one task of a pii mode over an emulator, and the clear contact
// values of a sample of its orders.
type piiScene struct {
	t       *testing.T
	e       *secEnv
	counter int64
	task    int64
	// values are the clear values looked for: phones as RetailCRM sends them and as normalised,
	// emails, names. phones are the normalised phones alone (the control's measure).
	values, phones []string
	changed        []int64 // RetailCRM ids of the orders whose contacts changed after the first run
	invalid        string  // a phone no rule accepts, given to one order
}

func newPIIScene(t *testing.T, pii string) *piiScene {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 77, Orders: 400}})
	p := &piiScene{t: t, e: e, invalid: "55-66-77 доб. 9"}
	p.counter = e.createCounter("Shop")
	in, _ := json.Marshal(map[string]any{"name": "Заказы", "pii": pii,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
	st, body := e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", p.counter), e.token, string(in))
	if st != 201 {
		t.Fatalf("task: %d %s", st, body)
	}
	var task struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &task)
	p.task = task.ID
	if r := p.waitRunAfter(0); r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings {
		t.Fatalf("first run: %s %s", r.Status, r.Error)
	}

	// The sample: every third order as the first run read it, and the changed ones also as
	// they are now.
	p.sample(func(i int) bool { return i%3 == 0 })
	after := func(i int) bool { return i < 10 }

	// Ten orders get new contacts (the timeline records old → new), one an invalid phone (a
	// run issue about it), and the next run takes them in.
	ids := e.emu.OrderIDs(crmemu.DemoKey)
	for i, id := range ids[:10] {
		phone := fmt.Sprintf("+7 (999) 301-%02d-%02d", i, 40+i)
		if i == 9 {
			phone = p.invalid
		}
		if err := e.emu.UpdateOrder(id, crmemu.Change{Field: "phone", Value: phone},
			crmemu.Change{Field: "email", Value: fmt.Sprintf("novyj.adres.%d@example.ru", i)},
			crmemu.Change{Field: "last_name", Value: fmt.Sprintf("Переименованная%d", i)}); err != nil {
			t.Fatal(err)
		}
		p.changed = append(p.changed, id)
	}
	last := p.lastRun()
	if st, body := e.api("POST", fmt.Sprintf("/api/v1/imports/%d/runs", p.task), e.token, ""); st != 202 {
		t.Fatalf("run now: %d %s", st, body)
	}
	if r := p.waitRunAfter(last); r.Status != store.RunSucceededWithWarnings {
		t.Fatalf("the run after the changes: %s %s (want warnings: one invalid phone)", r.Status, r.Error)
	}

	p.sample(after)
	if len(p.phones) < 100 {
		t.Fatalf("only %d phones sampled", len(p.phones))
	}
	return p
}

// sample adds the clear contacts of the emulator's orders whose index pick picks.
func (p *piiScene) sample(pick func(int) bool) {
	p.t.Helper()
	for i, raw := range p.e.emu.Orders(crmemu.DemoKey) {
		if !pick(i) {
			continue
		}
		var o struct {
			Phone, Email        string
			FirstName, LastName string
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			p.t.Fatal(err)
		}
		if n := normalPhone(o.Phone); n != "" {
			p.phones = append(p.phones, n)
			p.values = append(p.values, n, o.Phone)
		} else if len(o.Phone) >= 6 {
			p.values = append(p.values, o.Phone) // an invalid one (shorter ones are found in any text)
		}
		if o.Email != "" {
			p.values = append(p.values, o.Email)
		}
		if utf8.RuneCountInString(o.LastName) >= 6 {
			p.values = append(p.values, o.LastName)
		}
		if o.FirstName != "" && o.LastName != "" {
			p.values = append(p.values, o.LastName+" "+o.FirstName)
		}
	}
}

// normalPhone is a Russian phone as the mapping stores it (7 and ten digits), or "".
func normalPhone(s string) string {
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	switch {
	case len(d) == 11 && (d[0] == '7' || d[0] == '8'):
		return "7" + string(d[1:])
	case len(d) == 10:
		return "7" + string(d)
	}
	return ""
}

// use reads everything a user or an API client can: the orders as JSON and CSV, the changes
// feed, the runs with their issues, the changed orders' timelines, and the UI's orders list,
// order pages and task page. Every answer lands in the env's record.
func (p *piiScene) use() {
	t, e := p.t, p.e
	get := func(path string) string {
		t.Helper()
		st, body := e.api("GET", path, e.token, "")
		if st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
		return body
	}
	get(fmt.Sprintf("/api/v1/counters/%d/orders?include_deleted=true&limit=1000", p.counter))
	get(fmt.Sprintf("/api/v1/counters/%d/orders/changes?limit=1000", p.counter))
	rows, err := csv.NewReader(strings.NewReader(get(fmt.Sprintf("/api/v1/counters/%d/orders?format=csv&include_deleted=true", p.counter)))).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("CSV: %v, %d rows", err, len(rows))
	}
	runs, err := p.e.app.Store.Runs(context.Background(), e.acc, p.task, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		get(fmt.Sprintf("/api/v1/runs/%d", r.ID))
	}
	b := e.login(ownerEmail, ownerPassword)
	uiGet := func(path string) {
		t.Helper()
		if st, body, _ := b.get(path); st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
	}
	uiGet(fmt.Sprintf("/counters/%d/orders", p.counter))
	uiGet(fmt.Sprintf("/imports/%d", p.task))
	for _, r := range rows[1:11] {
		id := url.PathEscape(r[0])
		get(fmt.Sprintf("/api/v1/counters/%d/orders/%s/timeline", p.counter, id))
		uiGet(fmt.Sprintf("/counters/%d/orders/%s", p.counter, id))
	}
	for _, id := range p.changedOrderIDs() {
		get(fmt.Sprintf("/api/v1/counters/%d/orders/%s/timeline", p.counter, url.PathEscape(id)))
		uiGet(fmt.Sprintf("/counters/%d/orders/%s", p.counter, url.PathEscape(id)))
	}
}

// changedOrderIDs are the order_id values of the orders whose contacts changed: the default
// mapping's order_id is RetailCRM's id.
func (p *piiScene) changedOrderIDs() []string {
	ids := make([]string, len(p.changed))
	for i, id := range p.changed {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return ids
}

// found is how many of the sampled normalised phones text holds.
func (p *piiScene) found(text string) int {
	n := 0
	for _, v := range p.phones {
		if strings.Contains(text, v) {
			n++
		}
	}
	return n
}

// assertNone fails for every sampled clear value in the database file, the logs or an answer.
func (p *piiScene) assertNone(when string) {
	p.t.Helper()
	running := string(p.e.dbBytes()) // with its write-ahead log, as a copy of the disk would hold it now
	p.e.stop()
	sources := map[string]string{"database files of the running service": running, "database file": string(p.e.dbBytes()),
		"logs": p.e.logs.String(), "answers": p.e.seen.String()}
	for what, text := range sources {
		leaks := 0
		for _, v := range append(p.values, p.invalid) {
			if i := strings.Index(text, v); i >= 0 {
				leaks++
				if leaks <= 3 {
					p.t.Errorf("%s: the %s holds %q: …%q…", when, what, v, text[max(0, i-120):min(len(text), i+len(v)+60)])
				}
			}
		}
		if leaks > 3 {
			p.t.Errorf("%s: the %s holds %d clear values in all", when, what, leaks)
		}
	}
}

func (p *piiScene) lastRun() int64 {
	p.t.Helper()
	r, err := p.e.app.Store.LastRun(context.Background(), p.e.acc, p.task)
	if err != nil {
		p.t.Fatal(err)
	}
	if r == nil {
		return 0
	}
	return r.ID
}

// waitRunAfter waits for a finished run of the task newer than the run after.
func (p *piiScene) waitRunAfter(after int64) store.Run {
	p.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for {
		r, err := p.e.app.Store.LastRun(context.Background(), p.e.acc, p.task)
		if err != nil {
			p.t.Fatal(err)
		}
		if r != nil && r.ID > after && r.Finished() {
			return *r
		}
		select {
		case <-tick.C:
		case <-deadline:
			p.t.Fatalf("no finished run after %d", after)
		}
	}
}
