package web

import (
	"strings"
	"testing"

	"orderimport/internal/locale"
	"orderimport/internal/tasks"
)

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/counters/1/imports/new":       "/counters/1/imports/new",
		"/counters/1/orders?from=2025":  "/counters/1/orders?from=2025",
		"":                              "/",
		"counters":                      "/",
		"//evil.example/":               "/",
		"/\\evil.example/":              "/",
		"/\\/evil.example/":             "/",
		"https://evil.example/":         "/",
		"javascript:alert(1)":           "/",
		"/ok\r\nSet-Cookie: x=1":        "/",
		"/ok\x00":                       "/",
		"/" + strings.Repeat("a", 3000): "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example", // a path on this site, harmless
	} {
		if got := localPath(in, "/"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChartFillsGapsAndScales(t *testing.T) {
	t.Parallel()
	vw := &view{Lang: "ru", p: locale.For("ru")}
	days := []tasks.DaySummary{
		{Date: "2025-03-01", Orders: 2, Revenue: "1000.50", Profit: "200"},
		{Date: "2025-03-04", Orders: 4, Revenue: "2500000", Profit: "-300"},
	}
	c := buildChart(vw, days, "2025-02-28", "", "RUB")
	if c.Days != 5 || len(c.Bars) != 5 || c.FirstDay != "2025-02-28" || c.LastDay != "2025-03-04" {
		t.Fatalf("days %d bars %d %s..%s: want 28 Feb to 4 Mar, gaps as zero days", c.Days, len(c.Bars), c.FirstDay, c.LastDay)
	}
	if c.Bars[0].H != 0 || c.Bars[1].H != chartHeight/2 || c.Bars[2].H != 0 || c.Bars[3].H != 0 || c.Bars[4].H != chartHeight {
		t.Fatalf("bar heights %v: the busiest day is full height, empty days are empty", c.Bars)
	}
	if !c.HasNegMin || c.ZeroY <= 0 || c.ZeroY >= chartHeight {
		t.Fatalf("negative profit must put the zero line inside the chart: %+v", c.ZeroY)
	}
	if c.MoneyMax != "2,5 млн" {
		t.Fatalf("axis label %q, want a compact 2,5 млн", c.MoneyMax)
	}
	if !strings.Contains(c.Bars[4].Title, "04.03.2025") || !strings.Contains(c.Hits[1].Title, "1\u00a0000,50\u00a0₽") {
		t.Fatalf("titles %q / %q", c.Bars[4].Title, c.Hits[1].Title)
	}
	if buildChart(vw, nil, "", "", "") != nil {
		t.Fatal("no days, no chart")
	}
	long := []tasks.DaySummary{{Date: "2020-01-01", Orders: 1, Revenue: "1", Profit: "1"}, {Date: "2025-01-01", Orders: 1, Revenue: "1", Profit: "1"}}
	if c := buildChart(vw, long, "", "", "RUB"); c.Days != maxChartDays || c.LastDay != "2025-01-01" {
		t.Fatalf("a five-year range: %d days up to %s, want the newest %d", c.Days, c.LastDay, maxChartDays)
	}
}
