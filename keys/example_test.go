package keys_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/planguard/planguard/keys"
)

type oneKey keys.Key

var timeZero = time.Time{}

func (k oneKey) LookupKey(_ context.Context, id string) (keys.Key, error) {
	if id != k.ID {
		return keys.Key{}, keys.ErrNotFound
	}
	return keys.Key(k), nil
}

// A Go client signs every request with the Transport; the server verifies
// the signature and learns who called.
func ExampleTransport() {
	key, _ := keys.New("AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "test01", keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"), timeZero)
	verifier, _ := keys.NewVerifier(oneKey(key), keys.VerifierConfig{})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := verifier.Verify(r)
		if err != nil {
			http.Error(w, err.(*keys.AuthError).Message(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "hello %s", k.Name)
	}))
	defer srv.Close()

	client := &http.Client{Transport: &keys.Transport{Signer: &keys.Signer{
		ID: key.ID, Secret: key.Secret, Source: "my-app",
	}}}
	resp, err := client.Get(srv.URL + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	resp, _ = http.Get(srv.URL + "/orders") // unsigned
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 200 hello test01
	// 401 HMAC signature cannot be verified, a validate authorization header is required
}
