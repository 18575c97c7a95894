package people

import (
	_ "embed"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// commonPasswords are the passwords people choose most, as found in breached password dumps:
// the list of the npm package @zxcvbn-ts/language-common 4.1.3 (src/passwords.json, MIT licence,
// common-passwords.LICENSE), which ranks the passwords seen more than ten times in a dump of ten
// million real passwords. The package is maintained and its list is the one password strength
// meters ship. Of its 49,233 entries the 17,950 of 8 characters or more are kept (shorter ones
// are refused by length already), lower-case, sorted, one a line.
//
//go:embed common-passwords.txt
var commonPasswordsText string

var (
	commonOnce sync.Once
	common     []string
)

// isCommon reports a password on the list, compared in lower case. The list is read at the first
// check, so processes that never set a password never hold it.
func isCommon(password string) bool {
	commonOnce.Do(func() { common = strings.Split(strings.TrimSpace(commonPasswordsText), "\n") })
	p := strings.ToLower(password)
	i := sort.SearchStrings(common, p)
	return i < len(common) && common[i] == p
}

// CheckPassword applies the password rules to a password being set for email: 8 to 256
// characters, not one of the common passwords, not the email or its name part, not one
// character repeated. The message says which rule it breaks; the zero message means it passes.
func CheckPassword(email, password string) (locale.Message, bool) {
	n := utf8.RuneCountInString(password)
	if n < store.MinPasswordLen || len(password) > store.MaxPasswordLen {
		return locale.M("password_length", "min", store.MinPasswordLen, "max", store.MaxPasswordLen), false
	}
	lower := strings.ToLower(password)
	email = store.NormalizeEmail(email)
	name, _, _ := strings.Cut(email, "@")
	if email != "" && (strings.Contains(lower, email) || (len(name) >= 4 && strings.Contains(lower, name))) {
		return locale.M("password_like_email"), false
	}
	if strings.Count(password, string([]rune(password)[:1])) == n {
		return locale.M("password_common"), false
	}
	if isCommon(password) {
		return locale.M("password_common"), false
	}
	return locale.Message{}, true
}

// newPassword checks a new password and its confirmation and hashes it; the fields are named
// as the forms name them.
func newPassword(email, password, confirm string) (string, error) {
	if msg, ok := CheckPassword(email, password); !ok {
		return "", invalid("password", msg)
	}
	if password != confirm {
		return "", invalid("password_confirm", locale.M("password_mismatch"))
	}
	hash, err := store.HashPassword(password)
	if err != nil {
		return "", err
	}
	return hash, nil
}

// invalid is an invalid-input error of one field, the kind the adapters show next to the field.
func invalid(field string, msg locale.Message) error {
	return &tasks.InvalidError{Fields: []tasks.FieldError{{Field: field, Msg: msg}}}
}
