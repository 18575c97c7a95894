package web

import (
	"errors"
	"net/http"
	"strconv"

	"orderimport/internal/tasks"
)

// createCounter adds a counter from the home page's form and opens its settings, where the
// path of the original help page goes on: Настройки → Данные → Импорт заказов.
func (h *Web) createCounter(w http.ResponseWriter, r *http.Request, vw *view) {
	name, tz := r.PostFormValue("name"), r.PostFormValue("timezone")
	c, err := h.Tasks.CreateCounter(r.Context(), vw.Visitor.User.AccountID, tasks.CounterInput{Name: &name, Timezone: &tz})
	var inv *tasks.InvalidError
	if errors.As(err, &inv) {
		f := counterForm{Name: name, Timezone: tz, Errors: map[string]*fieldErr{}}
		for _, fe := range inv.Fields {
			f.Errors[fe.Field] = msgErr(vw, fe.Msg)
		}
		h.renderHome(w, r, vw, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/counters/"+strconv.FormatInt(c.ID, 10)+"/settings?done=counter_created")
}
