package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planguard/planguard/internal/tc3test"
)

const (
	adminID     = "AKIDadmin0000000000000000000000000000"
	adminSecret = "admin-secret-0123456789abcdef"
)

// tc3 sends a Cloud API 3.0 action to the admin listener at addr, signed
// with TC3-HMAC-SHA256 as the Tencent Cloud SDKs sign it, and returns the
// decoded Response.
func tc3(t *testing.T, addr, id, secret, action, body string) map[string]any {
	t.Helper()
	req := tc3test.Request{ID: id, Secret: secret, Action: action, Body: body}.New(t, addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct{ Response map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d, %v", action, resp.StatusCode, err)
	}
	return env.Response
}

func errorCode(resp map[string]any) string {
	e, _ := resp["Error"].(map[string]any)
	code, _ := e["Code"].(string)
	return code
}

// The admin listener serves the Cloud API 3.0 actions to -admin-id: in
// managed mode a write applies (a key disabled through it is refused on
// the next request); in declarative mode, or for a read-only credential,
// writes are refused with the old gateway's codes; reads work in both;
// a wrong signature is an AuthFailure; the secret never shows.
func TestCloudAPIAdmin(t *testing.T) {
	t.Setenv(adminSecretEnv, adminSecret)
	const disable = `{"AccessKeyId": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"}`
	state := filepath.Join(t.TempDir(), "usage.db")
	addrs, logs, stop := startLogged(t, 2, "-managed", "-state", state, "-config", "testdata/config.json",
		"-admin", "127.0.0.1:0", "-admin-id", adminID)
	if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != 200 {
		t.Fatalf("before: %d", code)
	}
	if r := tc3(t, addrs[1], adminID, adminSecret, "DescribeApiKeysStatus", "{}"); errorCode(r) != "" {
		t.Fatalf("a read: %v", r)
	}
	// A GET to / (the SDKs' GET method, or an HmacSHA1/HmacSHA256
	// signature) is refused in the Cloud API envelope, HTTP 200, so that
	// the SDK reads its code.
	resp, err := http.Get("http://" + addrs[1] + "/?Action=DescribeApiKeysStatus&Version=2018-08-08")
	if err != nil {
		t.Fatal(err)
	}
	var refused struct{ Response map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&refused); err != nil || resp.StatusCode != 200 || errorCode(refused.Response) != "UnsupportedProtocol" {
		t.Fatalf("GET /: %d %v %v", resp.StatusCode, refused, err)
	}
	resp.Body.Close()
	// With a credential, the unauthenticated Describe queries of a
	// listener without one are refused: they would read every key ID
	// past the signature.
	resp, err = http.Get("http://" + addrs[1] + "/DescribeApiKeysStatus")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an unsigned GET /DescribeApiKeysStatus beside -admin-id: %d, want 403", resp.StatusCode)
	}
	if r := tc3(t, addrs[1], adminID, adminSecret, "DisableApiKey", disable); errorCode(r) != "" {
		t.Fatalf("DisableApiKey: %v", r)
	}
	if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != http.StatusUnauthorized {
		t.Fatalf("after DisableApiKey: %d", code)
	}
	if r := tc3(t, addrs[1], adminID, "wrong-secret-0123456789abcdef", "DescribeApiKeysStatus", "{}"); !strings.HasPrefix(errorCode(r), "AuthFailure") {
		t.Fatalf("a wrong signature: %v", r)
	}
	if c := stop(); c != 0 || strings.Contains(logs.String(), adminSecret) {
		t.Fatalf("exit %d, or the log shows the secret:\n%s", c, logs)
	}

	for _, tc := range []struct {
		args []string
		code string
	}{
		{nil, "UnsupportedOperation"},
		{[]string{"-managed", "-state", filepath.Join(t.TempDir(), "ro.db"), "-admin-read-only"}, "AuthFailure.UnauthorizedOperation"},
	} {
		t.Setenv(adminSecretEnv, adminSecret) // each server reads it once and unsets it, as a process does
		addrs, _, stop := startLogged(t, 2, append([]string{"-config", "testdata/config.json", "-admin", "127.0.0.1:0", "-admin-id", adminID}, tc.args...)...)
		if r := tc3(t, addrs[1], adminID, adminSecret, "DisableApiKey", disable); errorCode(r) != tc.code {
			t.Errorf("%v: %v, want %s", tc.args, r, tc.code)
		}
		if r := tc3(t, addrs[1], adminID, adminSecret, "DescribeApiKeysStatus", "{}"); errorCode(r) != "" {
			t.Errorf("%v: a read: %v", tc.args, r)
		}
		if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != 200 {
			t.Errorf("%v: the key was changed: %d", tc.args, code)
		}
		stop()
	}

	t.Setenv(adminSecretEnv, "")
	var stderr bytes.Buffer
	if c := run(context.Background(), []string{"-config", "testdata/config.json", "-admin", "127.0.0.1:0", "-admin-id", adminID}, &stderr, nil); c != 2 || !strings.Contains(stderr.String(), adminSecretEnv) {
		t.Fatalf("-admin-id without its secret: exit %d, %s", c, stderr.String())
	}
}
