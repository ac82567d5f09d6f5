package keys_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/planguard/planguard/keys"
)

// Sign one request at a given time. Without Headers, the Signer signs
// x-date, a fresh x-nonce and source; this list leaves the nonce out so
// that the signature below is reproducible: a signer in another language
// can be checked against it. The signature is the base64 HMAC-SHA1, keyed
// with the secret, of the signing string
//
//	x-date: Sat, 05 Dec 2026 09:30:00 GMT
//	source: my-app
//
// (openssl dgst -sha1 -hmac SECRET -binary | base64 gives the same).
func ExampleSigner_SignAt() {
	s := &keys.Signer{
		ID:      "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN",
		Secret:  keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"),
		Headers: []string{"x-date", "source"},
		Source:  "my-app",
	}
	r, err := http.NewRequest("GET", "http://127.0.0.1:8080/release/orders/42", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.SignAt(r, time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("X-Date:", r.Header.Get("X-Date"))
	fmt.Println("Source:", r.Header.Get("Source"))
	fmt.Println("Authorization:", r.Header.Get("Authorization"))
	// Output:
	// X-Date: Sat, 05 Dec 2026 09:30:00 GMT
	// Source: my-app
	// Authorization: hmac id="AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", algorithm="hmac-sha1", headers="x-date source", signature="w739irtYVMqU6/A/b89Zz/46vYU="
}
