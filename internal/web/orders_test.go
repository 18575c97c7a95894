package web_test

import (
	"context"
	"encoding/csv"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"

	"orderimport/internal/access"
	"orderimport/internal/api"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

var rowHeader = regexp.MustCompile(`<th scope="row" data-label="[^"]*"><a href="([^"]+)" translate="no">([^<]+)`)

// ordersTable is the part of a page from the orders table on (the breakdown by traffic source
// above it has row headings of its own).
func ordersTable(body string) string {
	if i := strings.Index(body, `id="orders-table"`); i >= 0 {
		return body[i:]
	}
	return ""
}

var nextLink = regexp.MustCompile(`<a class="btn" href="([^"]+)" rel="next">`)

// The orders page: paging through everything, filters, totals and chart of the filtered set,
// and the CSV export of exactly that set through the browser session.
func TestOrdersPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 130)
	e.login()
	c := e.counter("Shop")
	e.task(c, "Заказы")
	ctx := context.Background()
	base := "/counters/" + itoa(c.ID) + "/orders"
	all, _, err := e.srv.App.Store.Orders(ctx, e.srv.AccountID, c.ID, store.OrderFilter{Limit: 1000})
	if err != nil || len(all) != 130 {
		t.Fatalf("%d orders imported (%v)", len(all), err)
	}

	// Paging: 50 + 50 + 30, newest first, nothing twice.
	var seen []string
	path := base
	for pages := 0; path != ""; pages++ {
		p := e.get(path)
		if p.status != 200 || pages > 3 {
			t.Fatalf("page %d: %d", pages, p.status)
		}
		for _, m := range rowHeader.FindAllStringSubmatch(ordersTable(p.body), -1) {
			id := strings.TrimSpace(html.UnescapeString(m[2]))
			seen = append(seen, id)
			// Each order links to its page.
			if len(seen) == 1 {
				if op := e.get(html.UnescapeString(m[1])); op.status != 200 || !strings.Contains(op.body, "История изменений") || !strings.Contains(op.body, html.EscapeString(id)) {
					t.Fatalf("the page of order %s (%s): %d", id, m[1], op.status)
				}
			}
		}
		path = ""
		if m := nextLink.FindStringSubmatch(p.body); m != nil {
			path = html.UnescapeString(m[1])
			if !strings.Contains(e.get(path).body, "← В начало") {
				t.Fatal("a later page has no way back to the first")
			}
		}
	}
	if len(seen) != 130 || seen[0] != all[0].OrderID || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 130 {
		t.Fatalf("paged through %d orders, first %q: want all 130 once, newest first", len(seen), seen[0])
	}

	// Totals and chart over everything.
	p := e.get(base)
	sum, _ := e.srv.App.Tasks.Summarize(access.System(context.Background()), e.srv.AccountID, c.ID, store.OrderFilter{})
	total := sum.Total
	if total.Orders == 0 || total.Uncounted == 0 || total.Orders+total.Uncounted != 130 {
		t.Fatalf("of 130 orders %d count and %d do not: the emulator's statuses include cancelled ones", total.Orders, total.Uncounted)
	}
	if !strings.Contains(text(p.body), "Заказов "+itoa(total.Orders)) || !strings.Contains(p.body, `<rect class="bar"`) || len(sum.Days) == 0 {
		t.Fatalf("totals or chart missing: %s", text(p.body)[:400])
	}
	if !strings.Contains(text(p.body), locale.For("ru").Money(total.Revenue, sum.Currency)) || sum.Currency != "RUB" {
		t.Errorf("revenue total %s %s not shown", total.Revenue, sum.Currency)
	}
	wantUncounted := "Не учтено: " + locale.For("ru").Plural("orders", total.Uncounted) + " на " + locale.For("ru").Money(sum.Uncounted["RUB"].Revenue, "RUB")
	if !strings.Contains(text(p.body), wantUncounted) {
		t.Errorf("the uncounted line %q is not on the page", wantUncounted)
	}

	// Filter by status: rows, totals and the CSV link agree.
	status := all[0].Status
	want := 0
	for _, o := range all {
		if o.Status == status {
			want++
		}
	}
	p = e.get(base + "?status=" + status)
	ssum, _ := e.srv.App.Tasks.Summarize(access.System(context.Background()), e.srv.AccountID, c.ID, store.OrderFilter{Status: status})
	if !strings.Contains(text(p.body), "Заказов "+itoa(ssum.Total.Orders)) || ssum.Total.Orders+ssum.Total.Uncounted != int64(want) {
		t.Fatalf("status %s: want %d counted orders in the totals", status, ssum.Total.Orders)
	}
	csvHref := html.UnescapeString(regexp.MustCompile(`href="([^"]+)" download id="csv-link"`).FindStringSubmatch(p.body)[1])
	if !strings.Contains(csvHref, "format=csv") || !strings.Contains(csvHref, "status="+status) {
		t.Fatalf("csv link %q does not carry the filter", csvHref)
	}
	resp := e.get(csvHref)
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv with the session: %d %s", resp.status, resp.header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(resp.body)).ReadAll()
	if err != nil || !slices.Equal(recs[0], api.CSVHeader) || len(recs)-1 != want {
		t.Fatalf("csv: %d rows (%v), header %v; want %d", len(recs)-1, err, recs[0], want)
	}
	for _, r := range recs[1:] {
		if r[12] != status {
			t.Fatalf("csv row of status %q in a %q export", r[12], status)
		}
	}

	// Search by order id and by phone.
	one := all[7]
	p = e.get(base + "?q=" + one.OrderID)
	if rows := rowHeader.FindAllStringSubmatch(ordersTable(p.body), -1); len(rows) != 1 || strings.TrimSpace(rows[0][2]) != one.OrderID {
		t.Fatalf("search by id %s: %v", one.OrderID, rows)
	}
	for _, o := range all {
		if o.ContactPhone != "" {
			p = e.get(base + "?q=" + o.ContactPhone)
			if !strings.Contains(text(p.body), o.OrderID) {
				t.Fatalf("search by phone %s does not find order %s", o.ContactPhone, o.OrderID)
			}
			break
		}
	}

	// A date that does not parse is named next to its field; the page still works.
	p = e.get(base + "?from=2025-13-45&status=" + status)
	if p.status != 200 || fieldError(t, p.body, "f-from") != "Укажите дату в формате ГГГГ-ММ-ДД." || !strings.Contains(text(p.body), "Заказов "+itoa(ssum.Total.Orders)) {
		t.Fatalf("bad date: %d %q", p.status, fieldError(t, p.body, "f-from"))
	}
	if p = e.get(base + "?from=2099-01-01"); !strings.Contains(text(p.body), "Нет заказов, подходящих под фильтры.") {
		t.Fatal("empty filter result not explained")
	}
	if p = e.get(base + "?cursor=garbage"); p.status != 200 || !strings.Contains(text(p.body), "Ссылка на страницу устарела") {
		t.Fatalf("bad cursor: %d", p.status)
	}
	empty := e.counter("Empty")
	if p = e.get("/counters/" + itoa(empty.ID) + "/orders"); !strings.Contains(text(p.body), "Заказов пока нет.") || !strings.Contains(text(p.body), "Настроить импорт заказов") {
		t.Fatal("an empty counter does not lead to the import settings")
	}
	e.noSecret()
}

// formatMoney groups a decimal as the Russian page does.
