package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A write the database had no room for is not a fault of the service: the request answers
// 507 database_full in the reader's language, and can be sent again once there is room.
func TestFailOnAFullDisk(t *testing.T) {
	full := fmt.Errorf("store: create run: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"})
	for lang, want := range map[string]string{
		"en": "The database has no room to write: its disk is full. Nothing was changed; free disk space and send the request again.",
		"ru": "Базе данных некуда писать: диск заполнен. Ничего не изменено; освободите место на диске и повторите запрос.",
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/v1/imports/1/runs", nil)
		r.Header.Set("Accept-Language", lang)
		(&API{}).fail(w, r, full)
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusInsufficientStorage || body.Error.Code != "database_full" || body.Error.Message != want {
			t.Errorf("%s: %d %+v; want 507 database_full saying %q", lang, w.Code, body.Error, want)
		}
	}
}
