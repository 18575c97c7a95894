package tasks

import (
	"net/url"
	"testing"
	"time"
)

// FuzzOrderQuery parses any query string: every bad parameter is named with a message, and
// every value it returns is within the bounds of the API.
func FuzzOrderQuery(f *testing.F) {
	for _, s := range []string{
		"from=2026-01-01&to=2026-01-31&limit=1000&include_deleted=true&import_id=3&status=new&site=s&q=x&cursor=abc",
		"from=2026-02-30", "limit=0", "limit=1001", "limit=-1", "include_deleted=maybe", "import_id=0", "to=2026-01-01&from=2026-02-01",
		"from=%00", "limit=1e3", "from=+2026-01-01", "from=2026-1-1", "q=%E2%80%AE", "from=2026-01-01&from=1999-01-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, bad := OrderQuery(q)
		for _, b := range bad {
			if b.Field == "" || b.Msg.Code == "" {
				t.Fatalf("%q: refused %+v without saying what or why", raw, b)
			}
		}
		for _, d := range []string{flt.From, flt.To} {
			if d == "" {
				continue
			}
			if _, err := time.Parse("2006-01-02", d); err != nil {
				t.Fatalf("%q: accepted date %q", raw, d)
			}
		}
		if flt.From != "" && flt.To != "" && flt.From > flt.To {
			t.Fatalf("%q: from %s after to %s", raw, flt.From, flt.To)
		}
		if flt.Limit < 1 || flt.Limit > 1000 || flt.TaskID < 0 {
			t.Fatalf("%q: limit %d, import %d", raw, flt.Limit, flt.TaskID)
		}
	})
}
