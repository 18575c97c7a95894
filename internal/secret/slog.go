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

type redactingHandler struct {
	inner   slog.Handler
	secrets func() []string
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
		inner:   r.inner,
		secrets: r.secrets,
		ops:     append(slices.Clip(r.ops), op),
		derived: new(atomic.Pointer[derivedHandler]),
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
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message, secrets...), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a, secrets))
		return true
	})
	return r.target(secrets).Handle(ctx, out)
}

func (r *redactingHandler) target(secrets []string) slog.Handler {
	if len(r.ops) == 0 {
		return r.inner
	}
	if d := r.derived.Load(); d != nil && slices.Equal(d.secrets, secrets) {
		return d.h
	}
	h := r.inner
	for _, op := range r.ops {
		if op.group != "" {
			h = h.WithGroup(Redact(op.group, secrets...))
			continue
		}
		attrs := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			attrs[i] = redactAttr(a, secrets)
		}
		h = h.WithAttrs(attrs)
	}
	r.derived.Store(&derivedHandler{secrets: secrets, h: h})
	return h
}

func redactAttr(a slog.Attr, secrets []string) slog.Attr {
	a.Key = Redact(a.Key, secrets...)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Redact(v.String(), secrets...))
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = redactAttr(g, secrets)
		}
		a.Value = slog.GroupValue(out...)
	case slog.KindAny:
		a.Value = redactAny(v, secrets)
	default:
		a.Value = v
	}
	return a
}

// redactAny keeps a value as it is unless its printed form holds a secret;
// then the value is replaced by its redacted text. Handlers print errors by
// Error() and other values with %+v or as JSON, and a secret is the same
// characters in each of those forms.
func redactAny(v slog.Value, secrets []string) slog.Value {
	var text string
	switch x := v.Any().(type) {
	case error:
		text = x.Error()
	case []byte:
		text = string(x)
	default:
		text = fmt.Sprintf("%+v", x)
	}
	if r := Redact(text, secrets...); r != text {
		return slog.StringValue(r)
	}
	return v
}
