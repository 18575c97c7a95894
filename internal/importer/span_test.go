package importer

import (
	"testing"
	"time"
)

func TestNextSpan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		span, n, target, want int
	}{
		{7, 777, 2000, 18},    // 111 a day: the next window aims at 2,000
		{18, 2000, 2000, 18},  // on target: stays
		{7, 0, 2000, 28},      // empty: grows 4× a step
		{256, 0, 2000, 512},   // up to the cap
		{512, 10, 2000, 512},  // capped
		{7, 40000, 2000, 1},   // far over: shrinks 4× a step, at least a day
		{64, 40000, 2000, 16}, // …not all at once
		{1, 5555, 2000, 1},    // one busy day is still one window
		{10, 1, 2000, 40},     // nearly empty: 4× at most
		{3, 2500, 2000, 2},    // slightly over: rounds to whole days
	} {
		if got := nextSpan(tc.span, tc.n, tc.target); got != tc.want {
			t.Errorf("nextSpan(%d, %d, %d) = %d, want %d", tc.span, tc.n, tc.target, got, tc.want)
		}
	}
}

// The instant a first run's feed probe started from, when the feed was empty since: exactly the
// time it names where it names one, the earlier of a fold's two, an hour back in a gap.
func TestEarliestNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		zone, text, want string
	}{
		{"Europe/Moscow", "2026-12-07 03:58:20", "2026-12-07T00:58:20Z"},
		{"Asia/Kamchatka", "2026-06-01 12:00:00", "2026-06-01T00:00:00Z"},
		{"Europe/Berlin", "2026-10-25 02:30:00", "2026-10-25T00:30:00Z"},       // fold: 00:30 and 01:30 UTC
		{"Europe/Berlin", "2026-03-29 02:30:00", "2026-03-29T00:30:00Z"},       // gap: 02:30 is no time in Berlin
		{"Australia/Lord_Howe", "2026-04-05 01:45:00", "2026-04-04T14:45:00Z"}, // half-hour fold
		{"America/New_York", "2026-11-01 01:30:00", "2026-11-01T05:30:00Z"},    // fold: 05:30 and 06:30 UTC
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		got, err := earliestNamed(tc.text, loc)
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("%s in %s: %v %v, want %s", tc.text, tc.zone, got.UTC().Format(time.RFC3339), err, tc.want)
		}
	}
}
