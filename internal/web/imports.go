package web

import (
	"net/http"

	"orderimport/internal/store"
)

type importsData struct {
	Tasks []taskRow
}

// taskRow is a task with its newest run, as the list shows it.
type taskRow struct {
	store.Task
	Last *store.Run
}

// imports is Настройки → Данные → Импорт заказов: the counter's import tasks.
func (h *Web) imports(w http.ResponseWriter, r *http.Request, vw *view) {
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
	var d importsData
	for _, t := range tasks {
		last, err := h.Store.LastRun(r.Context(), c.AccountID, t.ID)
		if err != nil {
			h.fail(w, r, vw, err)
			return
		}
		d.Tasks = append(d.Tasks, taskRow{Task: t, Last: last})
	}
	vw.Section = "settings"
	vw.Title = vw.T("imports.title")
	vw.Crumbs = importsCrumbs(vw, c, true)
	h.render(w, r, vw, "imports.html", d)
}

// importsCrumbs is the path of the original K50 help page: Настройки → Данные → Импорт заказов.
func importsCrumbs(vw *view, c store.Counter, last bool) []crumb {
	cr := []crumb{
		{Label: vw.T("settings.title"), Href: counterPath(c, "/settings")},
		{Label: vw.T("settings.data"), Href: counterPath(c, "/settings") + "#data"},
		{Label: vw.T("imports.title"), Href: counterPath(c, "/imports")},
	}
	if last {
		cr[2].Href = ""
	}
	return cr
}
