package retailcrm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"orderimport/internal/crmfixture"
)

// addFixtures seeds a fuzzer with the recorded RetailCRM answers of crmfixture: real payloads
// are the best starting points for mutation.
func addFixtures(f *testing.F) {
	f.Helper()
	for _, n := range crmfixture.Names() {
		b := crmfixture.Read(f, n)
		f.Add(b)
		// Some fixtures wrap the body in a recording; the body itself is the better seed.
		var rec struct {
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(b, &rec) == nil && len(rec.Body) > 0 {
			f.Add([]byte(rec.Body))
		}
	}
	for _, s := range []string{`[]`, `{"success":true,"orders":{"1":{"id":1}}}`, `{"orders":[{"id":"12.0"},{"id":1e400},null,[]]}`,
		`{"history":[{"id":1,"order":{"id":2},"newValue":{"code":"x"}}],"pagination":{"totalPageCount":"2"}}`,
		`{"success":false,"errors":["a",{"b":1}],"errorMsg":"x"}`, "{\"orders\":[{\"id\":1,\"number\":\"\xff\"}]}"} {
		f.Add([]byte(s))
	}
}

// checkDecodedOrder holds the decoder to its promises about an order: Raw is the object's exact JSON,
// and the typed id agrees with it whenever the id is a plain integer.
func checkDecodedOrder(t *testing.T, o *Order) {
	t.Helper()
	if len(o.Raw) == 0 || o.Raw[0] != '{' || !json.Valid(o.Raw) {
		t.Fatalf("order Raw is not a JSON object: %q", o.Raw)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(o.Raw, &obj); err != nil {
		// Duplicate names and invalid UTF-8 are tolerated by the reader; encoding/json
		// accepts both too, so a failure here means Raw is not what was read.
		t.Fatalf("order Raw does not decode: %v: %q", err, o.Raw)
	}
	if id, ok := obj["id"]; ok && bytes.Count(o.Raw, []byte(`"id"`)) == 1 {
		if n, err := strconv.ParseInt(string(id), 10, 64); err == nil && n != o.ID {
			t.Fatalf("order id %d, Raw says %s", o.ID, id)
		}
	}
	checkMembers(t, o)
}

// checkMembers holds Members to Raw: the same top-level members in the same order, duplicates
// included, each value the exact bytes encoding/json finds for it.
func checkMembers(t *testing.T, o *Order) {
	t.Helper()
	type pair struct {
		name  string
		value string
	}
	var want []pair
	dec := json.NewDecoder(bytes.NewReader(o.Raw))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		want = append(want, pair{name.(string), string(v)})
	}
	members := o.Members()
	if members == nil {
		t.Fatal("a decoded order has no members")
	}
	var got []pair
	for name, value := range members {
		got = append(got, pair{name, string(value)})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("members of %q:\n got %q\nwant %q", o.Raw, got, want)
	}
}

func FuzzDecodeOrders(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var p OrdersPage
		env, err := decodeEnvelope(body, func(r *reader, name string) error { return decodeOrdersMember(r, name, &p) })
		if err != nil {
			return
		}
		_ = env
		for i := range p.Orders {
			checkDecodedOrder(t, &p.Orders[i])
		}
	})
}

func FuzzDecodeHistory(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var p HistoryPage
		if _, err := decodeEnvelope(body, func(r *reader, name string) error { return decodeHistoryMember(r, name, &p) }); err != nil {
			return
		}
		for _, e := range p.History {
			for _, raw := range []json.RawMessage{e.OldValue, e.NewValue, e.Item, e.Payment} {
				if raw != nil && !json.Valid(raw) {
					t.Fatalf("entry %d keeps invalid JSON %q", e.ID, raw)
				}
			}
			for _, o := range []*Order{e.Order, e.CombinedTo, e.Ancestor} {
				if o != nil {
					checkDecodedOrder(t, o)
				}
			}
		}
	})
}

// FuzzClassify feeds any status and body to the function that turns an answer into success or
// an *Error: it must not panic, every error must have a kind and words, and a 2xx answer the
// decoder accepted must not be an error.
func FuzzClassify(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{200, 201, 302, 400, 401, 403, 404, 429, 500, 502, 503} {
			resp := &http.Response{StatusCode: status, Header: http.Header{"Location": {"https://elsewhere.example/x?apiKey=" + testKey}}}
			var p OrdersPage
			e := classify(resp, body, func(b []byte) (envelope, error) {
				return decodeEnvelope(b, func(r *reader, name string) error { return decodeOrdersMember(r, name, &p) })
			})
			if e == nil {
				if status >= 300 {
					t.Fatalf("status %d classified as success", status)
				}
				continue
			}
			msg := e.Error()
			if e.Kind == 0 || msg == "" {
				t.Fatalf("status %d: error without kind or words: %+v", status, e)
			}
			if bytes.Contains([]byte(msg), []byte(testKey)) {
				t.Fatalf("status %d: the error repeats the key: %s", status, msg)
			}
		}
	})
}
