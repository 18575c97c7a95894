package store

import (
	"strings"
	"testing"
)

// The dummy hash must cost what a real one costs (same parameters, same key length) and match
// no password.
func TestDummyHashLikeARealOne(t *testing.T) {
	real, err := HashPassword("a real password")
	if err != nil {
		t.Fatal(err)
	}
	params := func(h string) string {
		p := strings.Split(h, "$")
		return p[1] + "$" + p[2] + "$" + p[3]
	}
	if params(dummyHash) != params(real) {
		t.Fatalf("dummy hash parameters %q, real %q", params(dummyHash), params(real))
	}
	if len(dummyHash) != len(real) {
		t.Fatalf("dummy hash %q is not shaped like %q", dummyHash, real)
	}
	if CheckPassword(dummyHash, "not-a-real-password-0000") || CheckPassword(dummyHash, "") {
		t.Fatal("a password matched the dummy hash")
	}
}
