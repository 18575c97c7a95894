package crmfixture_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"orderimport/internal/crmfixture"
)

// Every payload is JSON and the README says where it comes from.
func TestEveryPayloadHasASource(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := crmfixture.Names()
	if len(names) == 0 {
		t.Fatal("no payloads embedded")
	}
	for _, name := range names {
		if !json.Valid(crmfixture.Read(t, name)) {
			t.Errorf("%s is not JSON", name)
		}
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not say where %s comes from", name)
		}
	}
}
