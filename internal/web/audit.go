package web

import (
	"net/http"
	"strconv"

	"orderimport/internal/audit"
	"orderimport/internal/store"
)

// auditPageSize is how many events one page of the audit log shows.
const auditPageSize = 100

type auditData struct {
	Events []auditRow
	Older  string // link to the next page, "" on the last one
}

type auditRow struct {
	store.AuditEvent
	Label string // the action in the reader's language
	Who   string // the actor, or who else acted, in the reader's language
	// WhoIsData: Who is the actor's email, not the product's words.
	WhoIsData bool
	Detail    *fieldErr // what changed, in the reader's language
}

// auditLabels are the catalogue keys of the actions the audit log records.
var auditLabels = map[string]string{
	audit.Login:          "audit.action.login",
	audit.LoginFailed:    "audit.action.login_failed",
	audit.LoginThrottled: "audit.action.login_throttled",
	audit.Logout:         "audit.action.logout",
	audit.TokenCreate:    "audit.action.token_create",
	audit.TokenRevoke:    "audit.action.token_revoke",
	audit.ImportCreate:   "audit.action.import_create",
	audit.ImportUpdate:   "audit.action.import_update",
	audit.ImportDelete:   "audit.action.import_delete",
	audit.KeyReplaced:    "audit.action.key_replaced",
	audit.RunStart:       "audit.action.run",
	audit.Resync:         "audit.action.resync",

	audit.LoginSSO:           "audit.action.login_sso",
	audit.LoginSSORefused:    "audit.action.login_sso_refused",
	audit.SecondFactorFailed: "audit.action.second_factor_failed",
	audit.UserInvite:         "audit.action.user_invite",
	audit.UserJoin:           "audit.action.user_join",
	audit.UserRole:           "audit.action.user_role",
	audit.UserRemove:         "audit.action.user_remove",
	audit.PasswordChange:     "audit.action.password_change",
	audit.TOTPEnable:         "audit.action.totp_enable",
	audit.TOTPDisable:        "audit.action.totp_disable",
	audit.RecoveryCodesNew:   "audit.action.recovery_codes",
	audit.TriggerRotate:      "audit.action.trigger_rotate",
	audit.WebhookCreate:      "audit.action.webhook_create",
	audit.WebhookDelete:      "audit.action.webhook_delete",
	audit.WebhookEnable:      "audit.action.webhook_enable",
	audit.AlertChannelCreate: "audit.action.alert_channel_create",
	audit.AlertChannelDelete: "audit.action.alert_channel_delete",
}

// auditLog is the account's audit log: who did what, when and from where, newest first.
func (h *Web) auditLog(w http.ResponseWriter, r *http.Request, vw *view) {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			h.fail(w, r, vw, store.ErrNotFound)
			return
		}
		before = n
	}
	events, err := h.People.AuditEvents(r.Context(), vw.Visitor.User.AccountID, before, auditPageSize)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := auditData{Events: make([]auditRow, 0, len(events))}
	for _, e := range events {
		label := e.Action
		if key, ok := auditLabels[e.Action]; ok {
			label = vw.T(key)
		}
		row := auditRow{AuditEvent: e, Label: label, Who: e.Actor, WhoIsData: true}
		if e.Actor == audit.ViaCommandLine {
			row.Who, row.WhoIsData = vw.T("audit.actor.command_line"), false
		}
		if !e.Detail.IsZero() {
			row.Detail = msgErr(vw, e.Detail)
		}
		d.Events = append(d.Events, row)
	}
	if len(events) == auditPageSize {
		d.Older = "/audit?before=" + strconv.FormatInt(events[len(events)-1].ID, 10)
	}
	vw.Title = vw.T("audit.title")
	vw.Crumbs = []crumb{{Label: vw.T("audit.title")}}
	h.render(w, r, vw, "audit.html", d)
}
