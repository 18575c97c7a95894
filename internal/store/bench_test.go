package store_test

import (
	"context"
	"fmt"
	"testing"

	"orderimport/internal/store"
)

// benchRows is a page of 100 realistic stored orders (mapped values of emulated ones).
func benchRows(page int) []store.OrderRow {
	rows := make([]store.OrderRow, 100)
	for i := range rows {
		n := page*100 + i
		rows[i] = store.OrderRow{CRMID: int64(n + 1), OrderID: fmt.Sprintf("%dA", 10000+n),
			OrderDate: "2026-05-14 09:31:07", OrderLocal: "2026-05-14 12:31:07", SessionID: fmt.Sprintf("%016x", n*7919),
			UserID: fmt.Sprintf("%d", 500+n%977), ItemCount: "3", Profit: "1395.16", Revenue: "4210.50",
			Comment: "Позвоните за час до доставки, пожалуйста", ContactName: "Иванова Мария Петровна",
			ContactPhone: "79123456789", ContactEmail: "maria.ivanova@example.ru", Tags: []string{"vip", "опт"},
			Status: "complete", Site: "main-store", Hash: fmt.Sprintf("%032x", n)}
	}
	return rows
}

// BenchmarkApplyBatchInsert writes pages of 100 new orders (a backfill); ns/op is per page.
func BenchmarkApplyBatchInsert(b *testing.B) {
	st := OpenSQLite(b)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "bench@example.com", "long enough password", "", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "bench", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	page := 0
	for b.Loop() {
		res, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: benchRows(page)})
		if err != nil || res.Created != 100 {
			b.Fatal(res, err)
		}
		page++
	}
}

// BenchmarkApplyBatchUnchanged re-applies the same page (a re-read window): reads only.
func BenchmarkApplyBatchUnchanged(b *testing.B) {
	st := OpenSQLite(b)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "bench@example.com", "long enough password", "", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "bench", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed"})
	if err != nil {
		b.Fatal(err)
	}
	batch := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: benchRows(0)}
	if _, err := st.ApplyBatch(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := st.ApplyBatch(ctx, batch)
		if err != nil || res.Unchanged != 100 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkOrdersSearch is the orders list's search (q=) on a counter of 50,000 orders: it
// must find its few matches through indexes, not by walking the counter.
func BenchmarkOrdersSearch(b *testing.B) {
	st := OpenSQLite(b)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "bench@example.com", "long enough password", "", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "bench", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed"})
	if err != nil {
		b.Fatal(err)
	}
	for page := range 500 {
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: benchRows(page)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := fmt.Sprintf("%dA", 10000+(i*7919)%50000)
		rows, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Search: q, Limit: 100})
		if err != nil || len(rows) != 1 {
			b.Fatal(len(rows), err)
		}
		i++
	}
}

// BenchmarkRecount re-evaluates 100,000 stored orders of every status group whose counting
// flips for every order each time (the worst case: every row is written), in batches of
// RecountBatch; the metric is orders re-evaluated per second. bench/ measures a million.
func BenchmarkRecount(b *testing.B) {
	const orders = 100_000
	st := OpenSQLite(b)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "bench@example.com", "long enough password", "", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "bench", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed"})
	if err != nil {
		b.Fatal(err)
	}
	statuses := []string{"new", "client-confirmed", "assembling", "delivering", "complete", "no-call", "cancel-other"}
	groups := map[string]string{"new": "new", "client-confirmed": "approval", "assembling": "assembling", "delivering": "delivery",
		"complete": "complete", "no-call": "cancel", "cancel-other": "cancel"}
	for page := range orders / 1000 {
		var rows []store.OrderRow
		for k := range 10 {
			for _, r := range benchRows(page*10 + k) {
				r.Status = statuses[int(r.CRMID)%len(statuses)]
				rows = append(rows, r)
			}
		}
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows}); err != nil {
			b.Fatal(err)
		}
	}
	classes := func(counted bool) store.Classes {
		cls := store.Classes{Statuses: map[string]store.StatusClass{}}
		for s, g := range groups {
			cls.Statuses[s] = store.StatusClass{Group: g, Counted: counted == (g != "cancel")}
		}
		return cls
	}
	ref := &store.Reference{}
	if _, err := st.Recount(ctx, u.AccountID, task.ID, ref, classes(true)); err != nil {
		b.Fatal(err)
	}
	flip := false
	b.ResetTimer()
	for b.Loop() {
		res, err := st.Recount(ctx, u.AccountID, task.ID, nil, classes(flip))
		if err != nil || res.Changed != orders {
			b.Fatal(res, err)
		}
		flip = !flip
	}
	b.ReportMetric(float64(orders*b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkApplyBatchChanged re-applies a page of 100 stored orders whose revenue and status
// changed each time (a history page): every order is rewritten, and with the timeline each
// change is recorded; ns/op is per page.
func BenchmarkApplyBatchChanged(b *testing.B) {
	st := OpenSQLite(b)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "bench@example.com", "long enough password", "", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "bench", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed"})
	if err != nil {
		b.Fatal(err)
	}
	batch := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: benchRows(0)}
	if _, err := st.ApplyBatch(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		for i := range batch.Upserts {
			o := &batch.Upserts[i]
			o.Revenue = fmt.Sprintf("%d.50", 4000+n)
			o.Status = []string{"complete", "assembling"}[n%2]
			o.Hash = fmt.Sprintf("%032x-%d", i, n)
		}
		res, err := st.ApplyBatch(ctx, batch)
		if err != nil || res.Updated != 100 {
			b.Fatal(res, err)
		}
	}
}
