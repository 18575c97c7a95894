package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"orderimport/internal/tasks"
)

// chart is a daily chart drawn on the server as SVG: bars of orders per day, and lines of
// revenue and profit per day. The SVGs stretch to the page's width (their strokes do not),
// while the axis labels are HTML around them, so text stays readable on a phone.
type chart struct {
	Days      int
	Width     int // viewBox width: dayWidth per day
	Height    int
	Bars      []bar
	OrdersMax int64
	Revenue   string // polyline points
	Profit    string
	ZeroY     float64 // the money chart's zero line
	MoneyMax  string  // axis labels (formatted by the template)
	MoneyMin  string
	HasNegMin bool
	Hits      []hit // per-day hover areas of the money chart
	FirstDay  string
	MiddleDay string
	LastDay   string
	Currency  string // of the money lines
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

type hit struct {
	X, W  float64
	Title string
}

const (
	dayWidth    = 10
	chartHeight = 100
	// maxChartDays bounds the SVG: a longer range shows its newest days.
	maxChartDays = 731
)

// buildChart lays the days out from the first to the last (or the filter's bounds), days
// without orders included as zero so that gaps are visible: bars of the counted orders, lines
// of their revenue and profit in currency (the summary's).
func buildChart(vw *view, days []tasks.DaySummary, from, to, currency string) *chart {
	if len(days) == 0 {
		return nil
	}
	start, end := days[0].Date, days[len(days)-1].Date
	if from != "" && from < start {
		start = from
	}
	if to != "" && to > end {
		end = to
	}
	first, err1 := time.Parse("2006-01-02", start)
	last, err2 := time.Parse("2006-01-02", end)
	if err1 != nil || err2 != nil || last.Before(first) {
		return nil
	}
	if n := int(last.Sub(first).Hours()/24) + 1; n > maxChartDays {
		first = last.AddDate(0, 0, -(maxChartDays - 1))
	}
	byDay := make(map[string]tasks.DaySummary, len(days))
	for _, d := range days {
		byDay[d.Date] = d
	}
	var all []tasks.DaySummary
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		key := d.Format("2006-01-02")
		s, ok := byDay[key]
		if !ok {
			s = tasks.DaySummary{Date: key, Revenue: "0", Profit: "0"}
		}
		all = append(all, s)
	}
	c := &chart{Days: len(all), Width: len(all) * dayWidth, Height: chartHeight, Currency: currency,
		FirstDay: all[0].Date, MiddleDay: all[len(all)/2].Date, LastDay: all[len(all)-1].Date}
	rev := make([]float64, len(all))
	prof := make([]float64, len(all))
	maxMoney, minMoney := 0.0, 0.0
	for i, d := range all {
		c.OrdersMax = max(c.OrdersMax, d.Orders)
		rev[i], prof[i] = money(d.Revenue), money(d.Profit)
		maxMoney = max(maxMoney, rev[i], prof[i])
		minMoney = min(minMoney, rev[i], prof[i])
	}
	for i, d := range all {
		h := 0.0
		if c.OrdersMax > 0 {
			h = float64(d.Orders) / float64(c.OrdersMax) * chartHeight
		}
		c.Bars = append(c.Bars, bar{X: float64(i*dayWidth) + 1, Y: chartHeight - h, W: dayWidth - 2, H: h,
			Title: vw.T("chart.orders_title", vw.p.Date(d.Date), vw.p.Int(d.Orders))})
		c.Hits = append(c.Hits, hit{X: float64(i * dayWidth), W: dayWidth,
			Title: vw.T("chart.money_title", vw.p.Date(d.Date), vw.p.Money(d.Revenue, currency), vw.p.Money(d.Profit, currency))})
	}
	span := maxMoney - minMoney
	if span == 0 {
		span = 1
	}
	y := func(v float64) float64 { return chartHeight - (v-minMoney)/span*chartHeight }
	c.Revenue = points(rev, y)
	c.Profit = points(prof, y)
	c.ZeroY = y(0)
	c.MoneyMax = compactNumber(vw, maxMoney)
	c.MoneyMin = compactNumber(vw, minMoney)
	c.HasNegMin = minMoney < 0
	return c
}

// compactNumber shortens an axis label so that it fits beside the chart on a phone:
// 1 002 409 → "1 млн", 45 300 → "45 тыс.".
func compactNumber(vw *view, v float64) string {
	a := math.Abs(v)
	sign := ""
	if v < 0 {
		sign = "-"
	}
	switch {
	case a >= 1e6:
		return vw.T("chart.millions", vw.p.Number(sign+strconv.FormatFloat(math.Round(a/1e5)/10, 'f', -1, 64)))
	case a >= 1e4:
		return vw.T("chart.thousands", vw.p.Number(sign+strconv.FormatFloat(math.Round(a/1e3), 'f', 0, 64)))
	}
	return vw.p.Number(sign + strconv.FormatFloat(math.Round(a), 'f', 0, 64))
}

func points(vals []float64, y func(float64) float64) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%g,%.2f", float64(i*dayWidth)+dayWidth/2.0, y(v))
	}
	return b.String()
}

// money reads an exact decimal for drawing only; sums shown as numbers stay exact text.
func money(s string) float64 {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0
	}
	f, _ := d.Float64()
	return f
}
