package web

import (
	"net/http"
	"strconv"

	"orderimport/internal/store"
)

// counter opens a counter on its orders.
func (h *Web) counter(w http.ResponseWriter, r *http.Request, vw *view) {
	c, err := h.loadCounter(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/counters/"+strconv.FormatInt(c.ID, 10)+"/orders")
}

// loadCounter reads {id} as one of the visitor's counters and puts it in the navigation.
func (h *Web) loadCounter(r *http.Request, vw *view) (store.Counter, error) {
	id, err := pathID(r)
	if err != nil {
		return store.Counter{}, err
	}
	c, err := h.Store.Counter(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		return store.Counter{}, err
	}
	vw.Counter = &c
	return c, nil
}

func counterPath(c store.Counter, rest string) string {
	return "/counters/" + strconv.FormatInt(c.ID, 10) + rest
}
