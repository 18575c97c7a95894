// Package crmfixture holds real RetailCRM API v5 answers, byte for byte as published (README.md
// in this folder says where each comes from), for the tests of every package that speaks or
// imitates RetailCRM: the client decodes them, the emulator's answers are held to their shapes,
// the mapping maps their orders. They live in one folder so that a payload is added or
// corrected once; the package embeds them so a test reads them by name from any directory.
// Only tests import it.
package crmfixture

import (
	"embed"
	"io/fs"
	"testing"
)

//go:embed *.json
var payloads embed.FS

// Names lists the payload files in lexical order.
func Names() []string {
	names, err := fs.Glob(payloads, "*.json")
	if err != nil {
		panic("crmfixture: " + err.Error()) // only a malformed pattern fails, and this one is fixed
	}
	return names
}

// Read returns the payload file name; an unknown name fails the test.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := payloads.ReadFile(name)
	if err != nil {
		t.Fatalf("crmfixture: %v", err)
	}
	return b
}
