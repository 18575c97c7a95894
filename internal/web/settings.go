package web

import (
	"net/http"
)

type settingsData struct {
	Tasks    int
	Webhooks int
}

// settings is the counter's Настройки page; its Данные section leads to Импорт заказов.
func (h *Web) settings(w http.ResponseWriter, r *http.Request, vw *view) {
	c, err := h.loadCounter(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	tasks, err := h.Store.Tasks(r.Context(), c.AccountID, c.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	hooks, err := h.Store.Webhooks(r.Context(), c.AccountID, c.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	vw.Section = "settings"
	vw.Title = vw.T("settings.title")
	vw.Crumbs = []crumb{{Label: vw.T("settings.title")}}
	h.render(w, r, vw, "settings.html", settingsData{Tasks: len(tasks), Webhooks: len(hooks)})
}
