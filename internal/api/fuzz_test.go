package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// FuzzDecode sends any body to the strict JSON reader of every request type: it either fills
// the value or answers 400/413 with the error envelope, never panics, and a body it accepted
// is one object with only known fields.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"Заказы","active":true,"type":"retailcrm","frequency_hours":1,"retailcrm":{"url":"https://shop.retailcrm.ru","api_key":"k","rate_limit":2.5},"mapping":{"session_id":"customFields.k50_sid","comment":null},"backfill_from":"2026-01-01"}`,
		`{"retailcrm":{"url":"x"},"mapping":{},"counter_id":1,"task_id":2,"limit":10}`,
		`{"name":"Shop","timezone":"Europe/Moscow"}`, `{"url":"https://a.retailcrm.ru","api_key":"k"}`,
		``, `{`, `[]`, `null`, `{"name":1}`, `{"nmae":"x"}`, `{} {}`, `{"frequency_hours":1e400}`, `{"mapping":{"a":"b","a":"c"}}`,
		"{\"name\":\"\xff\"}", `{"retailcrm":{"url":"` + strings.Repeat("a", 100) + `"}}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		var v any
		switch which % 4 {
		case 0:
			v = new(tasks.Input)
		case 1:
			v = new(tasks.PreviewInput)
		case 2:
			v = new(struct {
				Name     *string `json:"name"`
				Timezone *string `json:"timezone"`
			})
		default:
			v = new(struct {
				URL    string `json:"url"`
				APIKey string `json:"api_key"`
			})
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(body))
		if decode(w, r, v) {
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Fatalf("accepted, yet answered %d %s", w.Code, w.Body)
			}
			if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
				t.Fatalf("accepted a body that is not one JSON object: %q", body)
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused with status %d", w.Code)
		}
		var env errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
			t.Fatalf("refusal is not the error envelope: %s", w.Body)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("refusal content type %q", ct)
		}
	})
}

// FuzzCSVRecord writes any text into every text column of the export: a spreadsheet reading
// the file back gets exactly one row with the same cells, none of which starts a formula.
func FuzzCSVRecord(f *testing.F) {
	for _, s := range []string{"=HYPERLINK(\"http://evil\",\"x\")", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "a,b", "a\"b", "a\nb", "\"", "", "Иванов, Иван", "=1\n=2"} {
		f.Add(s, s+"x", "tag,"+s)
	}
	f.Fuzz(func(t *testing.T, a, b, tag string) {
		o := store.OrderRow{OrderID: a, OrderLocal: "2026-01-02 03:04:05", SessionID: b, UserID: a, ItemCount: "1", Profit: "-1.5",
			Revenue: "10", Comment: b, ContactName: a, ContactPhone: b, ContactEmail: a, Tags: []string{tag, a}, Status: b, Site: a}
		rec := CSVRecord(&o)
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("the row does not read back: %v\n%q", err, buf.String())
		}
		if len(rows) != 1 || len(rows[0]) != len(CSVHeader) {
			t.Fatalf("one order became %d rows of %d cells: %q", len(rows), len(rows[0]), buf.String())
		}
		for i, cell := range rows[0] {
			want := rec[i]
			// encoding/csv turns \r\n inside a quoted cell into \n when reading.
			if cell != strings.ReplaceAll(want, "\r\n", "\n") {
				t.Fatalf("column %s: wrote %q, read %q", CSVHeader[i], want, cell)
			}
			switch CSVHeader[i] {
			case "order_date", "item_count", "profit", "revenue", "deleted":
				continue // produced by the service from exact values, not text from the CRM
			}
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("column %s starts a formula: %q", CSVHeader[i], cell)
			}
		}
	})
}
