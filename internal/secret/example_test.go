package secret_test

import (
	"fmt"

	"orderimport/internal/secret"
)

func Example_rotation() {
	oldKey, _ := secret.GenerateKey()
	sealed, _ := secret.NewKeyring(oldKey).Seal([]byte("X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK"), []byte("import_task:42"))

	// After rotation the new key seals; the old one only opens.
	newKey, _ := secret.GenerateKey()
	ring := secret.NewKeyring(newKey, oldKey)
	if ring.NeedsReseal(sealed) {
		sealed, _ = ring.Reseal(sealed, []byte("import_task:42"))
	}
	apiKey, _ := secret.NewKeyring(newKey).Open(sealed, []byte("import_task:42"))
	fmt.Println(secret.Hint(string(apiKey)))
	// Output: …1hAK
}
