package secret

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
)

// NewRedactingHandler wraps h so that every secret returned by secrets is
// replaced by "[redacted]" in log messages, attribute keys and string values,
// inside groups at any depth, in error texts, in resolved slog.LogValuer
// values and in other values whose printed form contains a secret.
//
// It is a safety net: code must still never log a secret. secrets is called
// once per record, so attributes attached earlier with Logger.With are
// redacted with the secrets known when the record is written, not when With
// was called; it must be safe for concurrent use and may be nil.
func NewRedactingHandler(h slog.Handler, secrets func() []string) slog.Handler {
	return &redactingHandler{inner: h, secrets: secrets, derived: new(atomic.Pointer[derivedHandler])}
}

// NewAlarmedRedactingHandler is NewRedactingHandler that also calls redacted
// whenever it had to take a secret out of a record. Code never logs a
// secret, so a call is the sign of a bug: a metric or a test watches it.
func NewAlarmedRedactingHandler(h slog.Handler, secrets func() []string, redacted func()) slog.Handler {
	return &redactingHandler{inner: h, secrets: secrets, redacted: redacted, derived: new(atomic.Pointer[derivedHandler])}
}

type redactingHandler struct {
	inner    slog.Handler
	secrets  func() []string
	redacted func() // may be nil
	// ops are the WithAttrs/WithGroup calls made on this handler, in order.
	// They are replayed onto inner with redacted attributes rather than
	// passed on at once, since the secrets can change after With is called.
	ops     []handlerOp
	derived *atomic.Pointer[derivedHandler]
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

// derivedHandler caches inner with ops applied for one set of secrets, so
// the replay happens only when the secrets change.
type derivedHandler struct {
	secrets []string
	h       slog.Handler
	hit     bool // the replay redacted something
}

func (r *redactingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return r.inner.Enabled(ctx, level)
}

func (r *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return r
	}
	return r.with(handlerOp{attrs: slices.Clone(attrs)})
}

func (r *redactingHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return r
	}
	return r.with(handlerOp{group: name})
}

func (r *redactingHandler) with(op handlerOp) *redactingHandler {
	return &redactingHandler{
		inner:    r.inner,
		secrets:  r.secrets,
		redacted: r.redacted,
		ops:      append(slices.Clip(r.ops), op),
		derived:  new(atomic.Pointer[derivedHandler]),
	}
}

func (r *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	var secrets []string
	if r.secrets != nil {
		for _, s := range r.secrets() {
			if s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	if len(secrets) == 0 && len(r.ops) == 0 {
		return r.inner.Handle(ctx, rec)
	}
	slices.Sort(secrets)
	x := redactor{secrets: secrets}
	out := slog.NewRecord(rec.Time, rec.Level, x.text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(x.attr(a))
		return true
	})
	target := r.target(&x)
	if x.hit && r.redacted != nil {
		r.redacted()
	}
	return target.Handle(ctx, out)
}

// target is inner with the With calls replayed, redacted with x's secrets.
// A replay that had to redact marks x, even when the result is cached: every
// record written through such a handler carries the secret's former place.
func (r *redactingHandler) target(x *redactor) slog.Handler {
	if len(r.ops) == 0 {
		return r.inner
	}
	if d := r.derived.Load(); d != nil && slices.Equal(d.secrets, x.secrets) {
		x.hit = x.hit || d.hit
		return d.h
	}
	replay := redactor{secrets: x.secrets}
	h := r.inner
	for _, op := range r.ops {
		if op.group != "" {
			h = h.WithGroup(replay.text(op.group))
			continue
		}
		attrs := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			attrs[i] = replay.attr(a)
		}
		h = h.WithAttrs(attrs)
	}
	r.derived.Store(&derivedHandler{secrets: x.secrets, h: h, hit: replay.hit})
	x.hit = x.hit || replay.hit
	return h
}

// redactor redacts one record and notes whether it found anything.
type redactor struct {
	secrets []string
	hit     bool
}

func (x *redactor) text(s string) string {
	r := Redact(s, x.secrets...)
	if r != s {
		x.hit = true
	}
	return r
}

func (x *redactor) attr(a slog.Attr) slog.Attr {
	a.Key = x.text(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(x.text(v.String()))
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = x.attr(g)
		}
		a.Value = slog.GroupValue(out...)
	case slog.KindAny:
		a.Value = x.any(v)
	default:
		a.Value = v
	}
	return a
}

// redactAny keeps a value as it is unless its printed form holds a secret;
// then the value is replaced by its redacted text. Handlers print errors by
// Error() and other values with %+v or as JSON, and a secret is the same
// characters in each of those forms.
func (x *redactor) any(v slog.Value) slog.Value {
	var text string
	switch x := v.Any().(type) {
	case error:
		text = x.Error()
	case []byte:
		text = string(x)
	default:
		text = fmt.Sprintf("%+v", x)
	}
	if r := x.text(text); r != text {
		return slog.StringValue(r)
	}
	return v
}
