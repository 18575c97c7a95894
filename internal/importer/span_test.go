package importer

import "testing"

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
