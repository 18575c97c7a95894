package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A lasting failure that River logs at every poll reaches the log once a window, with how many
// identical lines were held back; anything else passes as it comes.
func TestQuietHandlerHoldsBackRepeats(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	text := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	log := slog.New(newQuietHandler(text, time.Minute, func() time.Time { return clock })).With("component", "river")
	full := errors.New("database or disk is full (13)")
	poll := func() { log.Error("producer: Error fetching jobs", "err", full.Error(), "queue", "imports") }

	for range 300 { // a minute of polls every 200 ms
		poll()
		log.Info("producer: Polling") // below WARN: never held back
		clock = clock.Add(200 * time.Millisecond)
	}
	log.Error("producer: Error fetching jobs", "err", full.Error(), "queue", "webhooks") // another queue
	log.Warn("producer: Error fetching jobs", "err", full.Error(), "queue", "imports")   // another level
	log.With("worker", "2").Error("producer: Error fetching jobs", "err", full.Error(), "queue", "imports")
	for attempt := range 5 { // River's listener counts its reconnections: one failure, tried again
		log.Error("notifier.Notifier: Error running listener", "attempt", attempt+1, "err", "connection refused",
			"sleep_duration", (time.Duration(1<<attempt) * time.Second).String())
	}
	poll() // the window has passed: through, with the count held back
	clock = clock.Add(time.Second)
	poll()

	var errorLines []string
	infos := 0
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		switch {
		case strings.HasPrefix(l, "level=INFO"):
			infos++
		default:
			errorLines = append(errorLines, l)
		}
	}
	want := []string{
		`level=ERROR msg="producer: Error fetching jobs" component=river err="database or disk is full (13)" queue=imports`,
		`level=ERROR msg="producer: Error fetching jobs" component=river err="database or disk is full (13)" queue=webhooks`,
		`level=WARN msg="producer: Error fetching jobs" component=river err="database or disk is full (13)" queue=imports`,
		`level=ERROR msg="producer: Error fetching jobs" component=river worker=2 err="database or disk is full (13)" queue=imports`,
		`level=ERROR msg="notifier.Notifier: Error running listener" component=river attempt=1 err="connection refused" sleep_duration=1s`,
		`level=ERROR msg="producer: Error fetching jobs" component=river err="database or disk is full (13)" queue=imports repeated=299`,
	}
	if infos != 300 || strings.Join(errorLines, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d info lines, the others:\n%s\nwant 300 and\n%s", infos, strings.Join(errorLines, "\n"), strings.Join(want, "\n"))
	}
}

// Records whose details change every time (a job's id) do not grow the memory without bound.
func TestQuietHandlerForgetsBounded(t *testing.T) {
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	h := newQuietHandler(slog.DiscardHandler, time.Minute, func() time.Time { return clock })
	log := slog.New(h)
	for i := range 10 * quietMaxKeys {
		log.Error("job failed", "job_id", i)
		if len(h.state.seen) > quietMaxKeys {
			t.Fatalf("%d records remembered after %d lines", len(h.state.seen), i+1)
		}
	}
	if err := h.Handle(context.Background(), slog.NewRecord(clock, slog.LevelError, "job failed", 0)); err != nil {
		t.Fatal(err)
	}
}
