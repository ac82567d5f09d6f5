package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
)

// An old client that signs Date with a clock an hour off: refused by
// default, with a message that names the date header; served with
// -legacy-date.
func TestLegacyDate(t *testing.T) {
	signer := &keys.Signer{ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"),
		Headers: []string{"date", "source"}, Source: "AndriodApp"}
	send := func(addr string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/release/orders", nil)
		if err := signer.SignAt(req, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Message
	}

	addr, stop := start(t, "-config", "testdata/config.json")
	code, msg := send(addr)
	if code != http.StatusUnauthorized || msg != "HMAC signature cannot be verified, the date header is out of date for HMAC Authentication." {
		t.Fatalf("default: %d %q", code, msg)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}

	addr, stop = start(t, "-config", "testdata/config.json", "-legacy-date")
	if code, msg := send(addr); code != http.StatusOK {
		t.Fatalf("-legacy-date: %d %q", code, msg)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
}
