package mapping

import (
	"crypto/sha256"
	"encoding/hex"
)

// What a task keeps of a buyer's contacts (Env.PII).
const (
	// PIIKeep stores contact_name, contact_phone and contact_email as normalised.
	PIIKeep = "keep"
	// PIIHash stores contact_phone and contact_email as the lower-case hex SHA-256 of the
	// normalised value (phone: digits, country code first; email: trimmed, lower case), the
	// form offline-conversion uploads take, and no contact_name.
	PIIHash = "hash"
	// PIIDrop stores none of the three.
	PIIDrop = "drop"
)

// PIIModes lists the valid modes, the default first.
var PIIModes = []string{PIIKeep, PIIHash, PIIDrop}

// HashContact is the stored form of a normalised phone or email under PIIHash: the lower-case
// hex SHA-256 of its UTF-8 bytes; "" stays "" (no contact is no hash).
func HashContact(normalised string) string {
	if normalised == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(normalised))
	return hex.EncodeToString(sum[:])
}

// isContact tells the fields PIIHash and PIIDrop withhold.
func isContact(name string) bool {
	return name == FieldContactName || name == FieldContactPhone || name == FieldContactEmail
}

// contactPolicy is what Map does with a contact field under a mode: skip it (it stays empty and
// its expression is not even run, so nothing of it can reach an issue), or hash it.
func contactPolicy(mode, field string) (skip, hash bool) {
	switch mode {
	case PIIHash:
		return field == FieldContactName, field != FieldContactName
	case PIIDrop:
		return true, false
	}
	return false, false
}
