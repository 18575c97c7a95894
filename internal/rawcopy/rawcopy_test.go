package rawcopy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/crmfixture"
)

// withoutPersonal is Strip's expectation, worked out the slow way: decode, delete, compare.
func withoutPersonal(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if !isPersonal([]byte(k)) {
				out[k] = withoutPersonal(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutPersonal(e)
		}
		return out
	}
	return v
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b[:min(len(b), 80)], err)
	}
	return v
}

func TestStripRemovesPersonalDataOnly(t *testing.T) {
	inputs := [][]byte{
		crmfixture.Read(t, "order-object.demo-account.order-53.json"),
		crmfixture.Read(t, "order-object.demo-account.order-73.json"),
		[]byte(` { "phone" : "+7 912" , "id":1,"customer":{"phones":[{"number":"8 (912) 345-67-89"}],"email":"a@b.ru","id":2},"items":[{"firstName":"x","n":[1, 2,{"lastName":"y"}]}], "email":"z"} `),
		[]byte(`{"a":"\"phone\":","phone":{"x":[1,{"y":"}"}]},"b":true,"c":null,"d":-1.5e3}`),
		[]byte(`{}`),
		[]byte(`{"phone":"1"}`),
	}
	for _, o := range crmemu.New(crmemu.Options{Seed: 3, Orders: 20}).Orders(crmemu.DemoKey) {
		inputs = append(inputs, o)
	}
	for _, in := range inputs {
		got, err := Strip(in)
		if err != nil {
			t.Fatalf("Strip(%.80s): %v", in, err)
		}
		if want := withoutPersonal(decode(t, in)); !reflect.DeepEqual(decode(t, got), want) {
			t.Errorf("Strip(%.80s) = %.200s", in, got)
		}
		for _, clear := range []string{"345-67-89", "a@b.ru", "flukina@molcanova.com", "Регина"} {
			if bytes.Contains(got, []byte(clear)) {
				t.Errorf("Strip left %q in %.80s", clear, got)
			}
		}
	}
}

func TestStripRefusesWhatIsNotAnObject(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{`, `{"a":}`, `{"a":1,}x`, `{"a" 1}`, `{"a":"1}`, `{"a":[1,}`, `{} {}`} {
		if _, err := Strip([]byte(in)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("Strip(%q): %v, want ErrNotJSON", in, err)
		}
	}
}

func TestPackUnpackWithAndWithoutDictionary(t *testing.T) {
	orders := crmemu.New(crmemu.Options{Seed: 5, Orders: 1200}).Orders(crmemu.DemoKey)
	samples := make([][]byte, 0, TrainSamples)
	for _, o := range orders[:TrainSamples] {
		s, err := Strip(o)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, s)
	}
	d, err := Train(7, samples)
	if err != nil {
		t.Fatal(err)
	}
	writer := NewCodec()
	if err := writer.Add(d); err != nil {
		t.Fatal(err)
	}
	plain := writer.Pack(nil, orders[1100], 0)
	withDict := writer.Pack(nil, orders[1100], 7)
	if len(withDict) >= len(plain) {
		t.Errorf("a copy with the dictionary is %d bytes, without %d", len(withDict), len(plain))
	}
	// Another process (a reader that knows the dictionary) unpacks both.
	reader := NewCodec()
	if got, err := reader.Unpack(nil, plain); err != nil || !bytes.Equal(got, orders[1100]) {
		t.Fatalf("unpack without a dictionary: %v", err)
	}
	if _, err := reader.Unpack(nil, withDict); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a copy naming an unknown dictionary: %v, want ErrCorrupt", err)
	}
	if err := reader.Add(d); err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Unpack(nil, withDict); err != nil || !bytes.Equal(got, orders[1100]) {
		t.Fatalf("unpack with the dictionary: %v", err)
	}
	damaged := bytes.Clone(withDict)
	damaged[len(damaged)/2] ^= 0xff
	if _, err := reader.Unpack(nil, damaged); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a damaged copy: %v, want ErrCorrupt", err)
	}
	if _, err := reader.Unpack(nil, []byte("not zstd at all")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v, want ErrCorrupt", err)
	}
}

// Copies packed without a buffer of the caller's are each their own and hold about what they
// need (the allocator's size class), not the order's length: packed in a shared scratch buffer,
// a later copy must not overwrite an earlier one.
func TestPackedCopiesAreTheirOwn(t *testing.T) {
	orders := crmemu.New(crmemu.Options{Seed: 6, Orders: 40}).Orders(crmemu.DemoKey)
	c := NewCodec()
	first := c.Pack(nil, orders[0], 0)
	kept := bytes.Clone(first)
	for _, o := range orders[1:] {
		if p := c.Pack(nil, o, 0); cap(p) > len(p)*5/4 {
			t.Errorf("a copy of %d bytes (of an order of %d) holds %d", len(p), len(o), cap(p))
		}
	}
	if !bytes.Equal(first, kept) {
		t.Fatal("packing more orders changed an earlier copy")
	}
	if got, err := c.Unpack(nil, first); err != nil || !bytes.Equal(got, orders[0]) {
		t.Fatalf("unpack the first copy: %v", err)
	}
	// A buffer of the caller's is appended to, as before.
	prefix := []byte("kept:")
	if p := c.Pack(prefix, orders[1], 0); !bytes.HasPrefix(p, prefix) || !bytes.Equal(p[len(prefix):], c.Pack(nil, orders[1], 0)) {
		t.Error("Pack with a buffer does not append the same copy to it")
	}
}

// A codec serves every task of a process but keeps the encoders of the dictionaries in use
// only: one idle for encoderIdle goes, and packing with its dictionary again makes a new one,
// whose copies are the same.
func TestCodecLetsIdleEncodersGo(t *testing.T) {
	orders := crmemu.New(crmemu.Options{Seed: 6, Orders: 300}).Orders(crmemu.DemoKey)
	c := NewCodec()
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	first := map[uint32][]byte{}
	for id := uint32(1); id <= 3; id++ {
		samples := make([][]byte, 0, 60)
		for _, o := range orders[id*10 : id*10+60] {
			s, _ := Strip(o)
			samples = append(samples, s)
		}
		d, err := Train(id, samples)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Add(d); err != nil {
			t.Fatal(err)
		}
		first[id] = c.Pack(nil, orders[250], id)
	}
	// Dictionary 3 keeps packing; 1 and 2 fall idle.
	for range 5 {
		clock = clock.Add(encoderIdle / 3)
		c.Pack(nil, orders[251], 3)
	}
	if _, kept := c.enc[1]; kept || len(c.enc) != 1 {
		t.Fatalf("encoders kept after an idle spell: %d, dictionary 1's among them: %v", len(c.enc), kept)
	}
	again := c.Pack(nil, orders[250], 1)
	if !bytes.Equal(again, first[1]) {
		t.Error("a copy packed by a remade encoder differs")
	}
	if got, err := c.Unpack(nil, again); err != nil || !bytes.Equal(got, orders[250]) {
		t.Fatalf("unpack after the encoder was remade: %v", err)
	}
}

// BenchmarkPack reports the bytes a kept copy of a full emulator order takes, without and with
// a dictionary trained on TrainSamples of the account's orders.
func BenchmarkPack(b *testing.B) {
	orders := crmemu.New(crmemu.Options{Seed: 1, Orders: 3000}).Orders(crmemu.DemoKey)
	samples := make([][]byte, 0, TrainSamples)
	for _, o := range orders[:TrainSamples] {
		s, _ := Strip(o)
		samples = append(samples, s)
	}
	d, err := Train(1, samples)
	if err != nil {
		b.Fatal(err)
	}
	c := NewCodec()
	if err := c.Add(d); err != nil {
		b.Fatal(err)
	}
	rest := orders[TrainSamples:]
	for _, bc := range []struct {
		name string
		id   uint32
	}{{"plain", 0}, {"dictionary", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			var packed, raw int
			buf := make([]byte, 0, 16<<10)
			i := 0
			for b.Loop() {
				o := rest[i%len(rest)]
				buf = c.Pack(buf[:0], o, bc.id)
				packed += len(buf)
				raw += len(o)
				i++
			}
			b.ReportMetric(float64(packed)/float64(i), "bytes/order")
			b.ReportMetric(float64(raw)/float64(i), "raw-bytes/order")
		})
	}
}
