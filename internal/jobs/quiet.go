package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// River polls the database every few hundred milliseconds in each of its queues' producers and
// maintenance services, and logs every failed poll: on a full disk, or while PostgreSQL is down,
// that was one ERROR line every 200 ms per queue, without end — on the very disk that is full,
// when logs go there. quietHandler lets the first of a run of identical warnings or errors
// through and holds back the ones that follow within repeatWindow; the next identical one after
// the window carries how many were held back ("repeated"). Records below WARN, and records
// that differ in their message or in any attribute but River's retry bookkeeping ("attempt" and
// "sleep_duration", which its reconnecting listener and leader elector change on every try),
// pass as they come.
//
// A maintained slog sampler (samber/slog-sampling) is not served to this build; this is the
// small part of one that the job system needs.
type quietHandler struct {
	next   slog.Handler
	prefix string // the attributes and groups added by WithAttrs and WithGroup, as a key
	state  *quietState
}

// repeatWindow is how long identical records are held back after one got through: a minute
// keeps a lasting failure visible (a line a minute per queue) without flooding the log.
const repeatWindow = time.Minute

// retryBookkeeping are the attributes River numbers its retries and their backoff with: lines
// that differ in them alone are the same failure, tried again.
var retryBookkeeping = map[string]bool{"attempt": true, "sleep_duration": true}

// quietMaxKeys bounds the records remembered: errors that carry changing details (a job's id)
// would otherwise grow the map without end.
const quietMaxKeys = 256

type quietState struct {
	mu     sync.Mutex
	now    func() time.Time
	window time.Duration
	seen   map[string]*quietEntry
}

type quietEntry struct {
	logged time.Time // when the last identical record got through
	held   int       // identical records held back since
}

func newQuietHandler(next slog.Handler, window time.Duration, now func() time.Time) *quietHandler {
	return &quietHandler{next: next, state: &quietState{now: now, window: window, seen: map[string]*quietEntry{}}}
}

func (h *quietHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	var key strings.Builder
	fmt.Fprintf(&key, "%s\x00%s\x00%s", r.Level, r.Message, h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		writeKey(&key, a)
		return true
	})
	held, pass := h.state.admit(key.String())
	if !pass {
		return nil
	}
	if held > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", held))
	}
	return h.next.Handle(ctx, r)
}

// writeKey adds an attribute to a record's identity, unless it is River's retry bookkeeping.
func writeKey(key *strings.Builder, a slog.Attr) {
	if !retryBookkeeping[a.Key] {
		fmt.Fprintf(key, "\x00%s=%s", a.Key, a.Value)
	}
}

// admit says whether a record with key gets through now and, if so, how many identical ones
// were held back since the last that did.
func (s *quietState) admit(key string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.seen[key]
	if e != nil && now.Sub(e.logged) < s.window {
		e.held++
		return 0, false
	}
	if e == nil {
		if len(s.seen) >= quietMaxKeys {
			for k, old := range s.seen {
				if now.Sub(old.logged) >= s.window {
					delete(s.seen, k)
				}
			}
			if len(s.seen) >= quietMaxKeys {
				// Every remembered record is recent: forgetting them lets at most one more line
				// of each through.
				clear(s.seen)
			}
		}
		e = &quietEntry{}
		s.seen[key] = e
	}
	held := e.held
	e.logged, e.held = now, 0
	return held, true
}

func (h *quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var key strings.Builder
	key.WriteString(h.prefix)
	for _, a := range attrs {
		writeKey(&key, a)
	}
	return &quietHandler{next: h.next.WithAttrs(attrs), prefix: key.String(), state: h.state}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), prefix: h.prefix + "\x00[" + name + "]", state: h.state}
}
