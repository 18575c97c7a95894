package retailcrm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"orderimport/internal/crmfixture"
)

// FuzzScannerAsJSONText drives the scanner and jsontext's decoder (with duplicate names and
// invalid UTF-8 allowed, as the scanner allows them) through the same reads of one JSON text:
// every kind, every value's bytes, every offset and every refusal must agree, and a text cut
// short must be io.ErrUnexpectedEOF for both. ops picks, at each step, whether a container's
// bracket is read as a token or the whole container as one value.
func FuzzScannerAsJSONText(f *testing.F) {
	for _, n := range crmfixture.Names() {
		f.Add(crmfixture.Read(f, n), []byte{0})
		f.Add(crmfixture.Read(f, n), []byte{1, 0, 1})
	}
	for _, s := range []string{`{"a":[1,-0.5e+3,"x\u00e9\n",true,false,null,{}],"b":{"c":[]}}`, `[1 2]`, `{"a" 1}`, `{"a":1,}`,
		`[,1]`, `{"a":1}}`, `01`, `1.`, `-`, `"\x"`, "\"\x01\"", `{"a":tru}`, `[1,2`, ` {} `, `{} x`, `1e`, `"\ud800"`,
		"[\"\xff\"]", `{"a":1,"a":2}`, `[{]`, `{"a":{"b":[1,{"c":2}]},"d":"e"}`} {
		f.Add([]byte(s), []byte{0, 1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, body, ops []byte) {
		sc := newScanner(body)
		dec := jsontext.NewDecoder(bytes.NewBuffer(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
		depth, started := 0, false
		for step := 0; step < 10000; step++ {
			if started && depth == 0 {
				return // one top-level value is all a RetailCRM answer is; jsontext reads a stream
			}
			k, want := sc.PeekKind(), byte(dec.PeekKind())
			if k != want {
				// jsontext names any byte as the next kind and refuses it when it is read; the
				// scanner refuses it at once. Anything else is a disagreement.
				if k != 0 {
					t.Fatalf("step %d at %d: kind %q, jsontext %q", step, sc.pos, k, want)
				}
				if _, err := dec.ReadValue(); err == nil {
					t.Fatalf("step %d at %d in %q: refused (%v), jsontext reads on", step, sc.pos, body, sc.err)
				}
				return
			}
			op := byte(0)
			if len(ops) > 0 {
				op = ops[step%len(ops)]
			}
			var err, wantErr error
			switch {
			case k == 0:
				err, wantErr = sc.ReadToken(), readToken(dec)
			case (k == '{' || k == '[') && op%2 == 0, k == '}' || k == ']':
				err, wantErr = sc.ReadToken(), readToken(dec)
				if err == nil {
					if k == '{' || k == '[' {
						depth++
					} else {
						depth--
					}
				}
			default:
				var v []byte
				v, err = sc.ReadValue()
				w, werr := dec.ReadValue()
				wantErr = werr
				if err == nil && werr == nil && !bytes.Equal(v, w) {
					t.Fatalf("step %d: value %q, jsontext %q", step, v, w)
				}
			}
			started = true
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("step %d (kind %q) in %q: error %v, jsontext %v", step, k, body, err, wantErr)
			}
			if err != nil {
				if errors.Is(wantErr, io.ErrUnexpectedEOF) != errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(wantErr, io.EOF) {
					t.Fatalf("cut short: %v, jsontext %v", err, wantErr)
				}
				return
			}
			if sc.InputOffset() != dec.InputOffset() {
				t.Fatalf("step %d: offset %d, jsontext %d", step, sc.InputOffset(), dec.InputOffset())
			}
		}
	})
}

func readToken(dec *jsontext.Decoder) error {
	_, err := dec.ReadToken()
	return err
}
