package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

func TestChiRouterBehindPlanguard(t *testing.T) {
	f, err := os.Open("../server/testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reg, err := usageplan.LoadConfig(f, usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	router, err := newRouter(reg, lim)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router)
	defer srv.Close()
	signed := &http.Client{Transport: &keys.Transport{Signer: &keys.Signer{
		ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"),
	}}}
	for _, tc := range []struct {
		client *http.Client
		path   string
		status int
		body   string
	}{
		{signed, "/orders/7", 200, "order 7 for AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN under gold"},
		{http.DefaultClient, "/orders/7", 401, ""},
		{http.DefaultClient, "/health", 200, "ok"},
		{signed, "/nothing", 404, ""},
	} {
		resp, err := tc.client.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.body != "" && string(body) != tc.body {
			t.Errorf("%s: %d %q", tc.path, resp.StatusCode, body)
		}
	}
}
