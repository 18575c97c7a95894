package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// createCounter adds a counter from the home page's form and opens its settings, where the
// seed's path goes on: Настройки → Данные → Импорт заказов.
func (h *Web) createCounter(w http.ResponseWriter, r *http.Request, vw *view) {
	f := counterForm{Name: strings.TrimSpace(r.PostFormValue("name")), Timezone: strings.TrimSpace(r.PostFormValue("timezone")),
		Errors: map[string]string{}}
	if f.Name == "" {
		f.Errors["name"] = vw.T("counter.err.name_required")
	} else if utf8.RuneCountInString(f.Name) > 200 {
		f.Errors["name"] = vw.T("counter.err.name_long", 200)
	}
	if f.Timezone == "" {
		f.Timezone = defaultTimezone
	}
	if _, err := time.LoadLocation(f.Timezone); err != nil || f.Timezone == "Local" {
		f.Errors["timezone"] = vw.T("counter.err.timezone")
	}
	if len(f.Errors) > 0 {
		h.renderHome(w, r, vw, http.StatusUnprocessableEntity, f)
		return
	}
	c, err := h.Store.CreateCounter(r.Context(), vw.Visitor.User.AccountID, f.Name, f.Timezone)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/counters/"+strconv.FormatInt(c.ID, 10)+"/settings?done=counter_created")
}
