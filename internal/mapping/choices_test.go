package mapping

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"orderimport/internal/crmfixture"
	"orderimport/internal/locale"
)

// fixtureCustomFields reads the custom fields of the RetailCRM fixture
// (GET /api/v5/custom-fields: bonus, multi-dictionary, dictionary).
func fixtureCustomFields(t testing.TB) []CustomFieldInfo {
	t.Helper()
	var resp struct {
		CustomFields []CustomFieldInfo
	}
	if err := json.Unmarshal(crmfixture.Read(t, "custom-fields-list.php-sdk.testList.json"), &resp); err != nil {
		t.Fatal(err)
	}
	return resp.CustomFields
}

func TestChoices(t *testing.T) {
	t.Parallel()
	choices := Choices(fixtureCustomFields(t))
	if len(choices) != len(standardChoices)+3 {
		t.Fatalf("%d choices, want %d standard + 3 custom", len(choices), len(standardChoices))
	}
	custom := choices[len(standardChoices):]
	want := []Choice{
		{Expr: "customFields.bonus", Label: "choice.custom_field", LabelArg: "бонус", Group: "custom"},
		{Expr: `customFields["multi-dictionary"]`, Label: "choice.custom_field", LabelArg: "мультисправочник", Group: "custom"},
		{Expr: "customFields.dictionary", Label: "choice.custom_field", LabelArg: "справочник", Group: "custom"},
	}
	if !reflect.DeepEqual(custom, want) {
		t.Errorf("custom choices = %+v\nwant %+v", custom, want)
	}
	labels := map[string]bool{}
	for _, c := range choices[:len(standardChoices)] {
		if c.Group != "order" || c.LabelArg != "" || labels[c.Label] {
			t.Errorf("standard choice %+v (labels must differ)", c)
		}
		labels[c.Label] = true
	}

	// Every expression offered compiles and evaluates on every fixture
	// order, and every expression in the default mapping is on offer.
	orders := fixtureOrders(t)
	offered := map[string]bool{}
	for _, c := range append(choices, Choices([]CustomFieldInfo{{Code: "in", Name: "in"}, {Code: "1st"}, {Code: "k50_sid"}})...) {
		offered[c.Expr] = true
		prog, _, ferr := compileExpr(c.Expr)
		if ferr != nil {
			t.Errorf("%s: %v", c.Expr, ferr)
			continue
		}
		for _, o := range orders {
			obj, err := decodeJSON(o.raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := eval(prog, map[string]any{envOrder: obj, envRun: &run{accountTZ: moscow}}); err != nil {
				t.Errorf("%s on %s: %v", c.Expr, o.source, err)
			}
		}
	}
	for field, expr := range Default() {
		if expr != "" && !offered[expr] {
			t.Errorf("the default of %s (%s) is not among the choices", field, expr)
		}
	}
	for _, e := range []string{`customFields["in"]`, `customFields["1st"]`, "customFields.k50_sid"} {
		if !offered[e] {
			t.Errorf("%s not offered", e)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	got := Suggest(fixtureCustomFields(t))
	if len(got[FieldSessionID]) != 0 || len(got[FieldUserID]) != 0 || len(got) != 2 {
		t.Errorf("fixture fields (bonus, dictionaries) suggested %v, want nothing", got)
	}

	got = Suggest([]CustomFieldInfo{
		{Code: "bonus", Name: "бонус"},
		{Code: "consider", Name: "Consider"},
		{Code: "ga_client_id", Name: "GA client"},
		{Code: "k50", Name: "K50"},
		{Code: "sessionId"},
		{Code: "field_2", Name: "ID пользователя"},
		{Code: "k50-session", Name: "K50 session"},
		{Code: "visitor_id", Name: "Visitor"},
		{Code: "field_1", Name: "ID сеанса"},
		{Code: "k50_uuid", Name: "K50 uuid"},
		{Code: "k50_sid", Name: "K50 SID"},
	})
	want := map[string][]string{
		FieldSessionID: {"customFields.k50_sid", `customFields["k50-session"]`, "customFields.field_1", "customFields.sessionId", "customFields.k50"},
		FieldUserID:    {"customFields.k50_uuid", "customFields.field_2", "customFields.visitor_id", "customFields.ga_client_id", "customFields.k50"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Suggest = %v\nwant %v", got, want)
	}
}

// Every field's title and help and every choice's label are in each
// catalogue; a custom field's label shows its name.
func TestFieldsAndChoicesHaveWords(t *testing.T) {
	t.Parallel()
	choices := Choices([]CustomFieldInfo{{Code: "k50_sid", Name: "K50 SID"}})
	for _, lang := range locale.Languages {
		p := locale.For(lang)
		for _, f := range Fields {
			for _, key := range []string{f.TitleKey(), f.HelpKey()} {
				if !p.Has(key) {
					t.Errorf("%s: no %q", lang, key)
				}
			}
		}
		for _, c := range choices {
			if !p.Has(c.Label) {
				t.Errorf("%s: no %q for %s", lang, c.Label, c.Expr)
				continue
			}
			if c.LabelArg == "" && strings.Contains(p.Raw(c.Label), "%") {
				t.Errorf("%s: %q takes an argument, %s has none", lang, c.Label, c.Expr)
			}
			if c.LabelArg != "" && !strings.Contains(p.T(c.Label, c.LabelArg), c.LabelArg) {
				t.Errorf("%s: %q does not show the field's name", lang, c.Label)
			}
		}
	}
}
