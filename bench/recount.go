package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"orderimport/internal/store"
)

// recountResult is benchmark 8: re-evaluating which of a million stored orders count, as a
// change of a task's counting (or of a status's group in RetailCRM) does, in the database and
// without a request to RetailCRM.
type recountResult struct {
	Orders int
	Fill   time.Duration
	Cases  []recountCase
}

type recountCase struct {
	Name    string
	Changed int64 // orders whose group or counted flag each run changed
	Batches int64
	Walls   []time.Duration
}

func (c recountCase) rate(orders int) float64 {
	return float64(orders) / median(c.Walls).Seconds()
}

// recountStatuses are the statuses of the stored orders, with their groups, in about the
// shares a shop's older orders have them.
var recountStatuses = []struct {
	code, group string
	weight      int
}{
	{"new", "new", 5}, {"client-confirmed", "approval", 5}, {"assembling", "assembling", 5}, {"delivering", "delivery", 8},
	{"delivered", "delivery", 7}, {"complete", "complete", 45}, {"no-call", "cancel", 10}, {"cancel-other", "cancel", 15},
}

// recountClasses counts the orders of the groups for which counts says true.
func recountClasses(counts func(group string) bool) store.Classes {
	c := store.Classes{Statuses: map[string]store.StatusClass{}}
	for _, s := range recountStatuses {
		c.Statuses[s.code] = store.StatusClass{Group: s.group, Counted: counts(s.group)}
	}
	return c
}

func runRecount(ctx context.Context, cfg *settings) (*recountResult, error) {
	svc, err := newService(ctx, cfg.tmp+"/recount", "", 0)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, "http://127.0.0.1:1", 0, false)
	if err != nil {
		return nil, err
	}
	res := &recountResult{Orders: cfg.recountOrders}
	st := svc.app.Store
	var cycle []string
	for _, s := range recountStatuses {
		for range s.weight {
			cycle = append(cycle, s.code)
		}
	}
	progress("recount: storing %d orders", cfg.recountOrders)
	start := time.Now()
	const batch = 1000
	for first := 0; first < cfg.recountOrders; first += batch {
		rows := make([]store.OrderRow, 0, batch)
		for i := first; i < min(first+batch, cfg.recountOrders); i++ {
			id := strconv.Itoa(i + 1)
			rows = append(rows, store.OrderRow{CRMID: int64(i + 1), OrderID: id, OrderNumber: id + "C",
				OrderDate: "2026-05-14 09:31:07", OrderLocal: "2026-05-14 12:31:07", SessionID: fmt.Sprintf("%016x", i*7919),
				ItemCount: "3", Profit: "1395.16", Revenue: "4210.50", Comment: "Позвоните за час до доставки, пожалуйста",
				ContactName: "Иванова Мария Петровна", ContactPhone: "79123456789", ContactEmail: "maria.ivanova@example.ru",
				Tags: []string{"vip"}, Status: cycle[i%len(cycle)], Site: "main-store", Currency: "RUB",
				Source: store.Source{Source: "yandex", Medium: "cpc", Campaign: "весна"}, Hash: fmt.Sprintf("%032x", i)})
		}
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: svc.account, CounterID: svc.counter, TaskID: task.ID, Upserts: rows}); err != nil {
			return nil, err
		}
	}
	res.Fill = time.Since(start)
	all := func(string) bool { return true }
	if _, err := st.Recount(ctx, svc.account, task.ID, &store.Reference{}, recountClasses(all)); err != nil {
		return nil, err
	}
	type variant struct {
		name string
		a, b store.Classes
	}
	variants := []variant{
		{"a counting that every order changes under (all groups ↔ cancelled only)",
			recountClasses(func(g string) bool { return g != "cancel" }), recountClasses(func(g string) bool { return g == "cancel" })},
		{"a typical change: the delivery group stops counting, then counts again",
			recountClasses(func(g string) bool { return g != "cancel" && g != "delivery" }), recountClasses(func(g string) bool { return g != "cancel" })},
	}
	for _, v := range variants {
		// The first change puts the orders under a; every run then switches between b and a,
		// so that each run changes the same orders.
		if _, err := st.Recount(ctx, svc.account, task.ID, nil, v.a); err != nil {
			return nil, err
		}
		c := recountCase{Name: v.name}
		for i := 0; i < cfg.runs; i++ {
			next := v.b
			if i%2 == 1 {
				next = v.a
			}
			t0 := time.Now()
			r, err := st.Recount(ctx, svc.account, task.ID, nil, next)
			if err != nil {
				return nil, err
			}
			wall := time.Since(t0)
			c.Walls = append(c.Walls, wall)
			c.Changed, c.Batches = r.Changed, r.Batches
			progress("recount: %s: %d orders changed in %v (%.0f orders/s)", v.name, r.Changed, wall.Round(time.Millisecond),
				float64(cfg.recountOrders)/wall.Seconds())
		}
		res.Cases = append(res.Cases, c)
	}
	return res, nil
}

func (r *report) writeRecount(w func(string, ...any), rc *recountResult) {
	w("## 8. Re-evaluating what counts: %d stored orders, SQLite\n\n", rc.Orders)
	w("`store.Recount` after a change of a task's counting (or of a status's group in RetailCRM): every stored order of the\n")
	w("task is read again in RetailCRM id order, in batches of %d, one transaction each, and the status group and counted\n", store.RecountBatch)
	w("flag derived from its status by one UPDATE per batch; only the orders whose group or flag changes are written. No\n")
	w("request goes to RetailCRM. The %d orders were stored first (%s); the orders/s below are all %d orders over the wall\n",
		rc.Orders, secs(rc.Fill), rc.Orders)
	w("time, however many of them changed.\n\n")
	w("| change | orders changed | batches | wall (runs) | orders/s (median) |\n|---|---|---|---|---|\n")
	for _, c := range rc.Cases {
		w("| %s | %d | %d | %s | %.0f |\n", c.Name, c.Changed, c.Batches, list(c.Walls, secs), c.rate(rc.Orders))
	}
	w("\n")
}
