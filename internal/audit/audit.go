// Package audit records who did what to an account, when and from where: in the append-only
// audit log the account's users can read, and as a log line for the operator. An event never
// carries a secret: no CRM key, password or token, only what was done to what.
package audit

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Actions recorded in the audit log.
const (
	Login          = "login"
	LoginFailed    = "login.failed"
	LoginThrottled = "login.throttled"
	Logout         = "logout"
	TokenCreate    = "token.create"
	TokenRevoke    = "token.revoke"
	ImportCreate   = "import.create"
	ImportUpdate   = "import.update"
	ImportDelete   = "import.delete"
	KeyReplaced    = "import.key_replaced"
	RunStart       = "import.run"
	Resync         = "import.resync"

	LoginSSO           = "login.sso"
	LoginSSORefused    = "login.sso_refused"
	SecondFactorFailed = "login.second_factor_failed"
	UserInvite         = "user.invite"
	UserJoin           = "user.join"
	UserRole           = "user.role"
	UserRemove         = "user.remove"
	PasswordChange     = "user.password"
	TOTPEnable         = "totp.enable"
	TOTPDisable        = "totp.disable"
	RecoveryCodesNew   = "totp.recovery_codes"

	TriggerRotate = "import.trigger_rotate"
	WebhookCreate = "webhook.create"
	WebhookDelete = "webhook.delete"
	WebhookEnable = "webhook.enable"
	// Alert channels added and removed.
	AlertChannelCreate = "alert_channel.create"
	AlertChannelDelete = "alert_channel.delete"
)

// Ways an actor can reach the service.
const (
	ViaSession     = "session"
	ViaToken       = "api token"
	ViaCommandLine = "command line"
)

// Actor is who acts and from where.
type Actor struct {
	UserID    int64
	AccountID int64
	Email     string
	Via       string
	IP        string
	UserAgent string
}

// FromRequest is the actor of an authenticated request. The IP is the peer address: without
// a proxy the operator vouches for, X-Forwarded-For is whatever the client wants it to be.
func FromRequest(r *http.Request, u store.User, via string) Actor {
	return Actor{UserID: u.ID, AccountID: u.AccountID, Email: u.Email, Via: via, IP: ClientIP(r), UserAgent: r.UserAgent()}
}

// ClientIP is the peer address of a request.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type actorKey struct{}

// WithActor returns ctx carrying the actor, for the layers that record what it does.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Log writes audit events. A nil *Log records nothing.
type Log struct {
	Store  *store.Store
	Logger *slog.Logger
}

// Record appends an event done on the account by the actor ctx carries.
func (l *Log) Record(ctx context.Context, accountID int64, action, target string, detail locale.Message) {
	a, _ := ActorFrom(ctx)
	l.RecordAs(ctx, a, accountID, action, target, detail)
}

// RecordAs appends an event done by a, for callers that know the actor themselves (a login,
// the command line). accountID 0 files the event under no account.
//
// What was done is done: an event that cannot be stored does not undo it. The log line is
// written either way, at error level when the database refused the event, so the operator's
// logs hold every event.
func (l *Log) RecordAs(ctx context.Context, a Actor, accountID int64, action, target string, detail locale.Message) {
	if l == nil {
		return
	}
	actor := a.Email
	if a.Via == ViaCommandLine && actor == "" {
		actor = ViaCommandLine
	}
	e := store.AuditEvent{AccountID: accountID, UserID: a.UserID, Actor: actor, Action: action, Target: target,
		Detail: detail, IP: a.IP, UserAgent: a.UserAgent}
	attrs := []any{"action", action, "account_id", accountID, "user_id", a.UserID, "actor", actor, "via", a.Via,
		"target", target, "detail", detail.String(), "ip", a.IP, "user_agent", a.UserAgent}
	// The request may be over (a client that hung up): the event is still recorded.
	if _, err := l.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		l.logger().Error("audit event not stored", append(attrs, "error", err)...)
		return
	}
	l.logger().Info("audit", attrs...)
}

func (l *Log) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}
