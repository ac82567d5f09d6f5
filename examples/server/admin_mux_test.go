package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// TestAdminListenerAnswersOnlyPostRootAndMetrics: with -admin-id the
// admin listener answers nothing but POST / (the Cloud API envelope)
// and GET /metrics, under the Host rule. A non-canonical path ("//",
// "/x/../", "/metrics/../metrics") used to get ServeMux's 301 redirect,
// any Host, before either handler ran; now a foreign Host is refused
// (421) and, with the listener's Host, the path is matched exactly (403,
// no redirect). Reading the admin secret removes it from the
// environment.
func TestAdminListenerAnswersOnlyPostRootAndMetrics(t *testing.T) {
	t.Setenv(adminSecretEnv, adminSecret)
	f, err := os.Open("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reg, err := usageplan.LoadConfig(f, usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"127.0.0.1:9999", "localhost:9999"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	api, err := withCloudAPI(reg, lim, nil, hosts, options{adminID: adminID}, log)
	if err != nil {
		t.Fatal(err)
	}
	if v, set := os.LookupEnv(adminSecretEnv); set {
		t.Fatalf("$%s is still set after the admin API read it (%d bytes)", adminSecretEnv, len(v))
	}
	h := withMetrics(api, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), hosts)
	serve := func(method, host, target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://"+host+target, nil)
		r.Host = host
		r.RequestURI = target
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, host := range []string{"evil.example", "127.0.0.1:9999"} {
		for _, target := range []string{"//", "/x/../", "/metrics/../metrics", "/./", "/metrics/", "/x"} {
			w := serve("GET", host, target)
			if w.Code/100 == 3 || w.Code == http.StatusOK {
				t.Errorf("GET %s Host %s: %d %s (Location %q)", target, host, w.Code, strings.TrimSpace(w.Body.String()), w.Header().Get("Location"))
			}
		}
	}
	if w := serve("GET", "evil.example", "/metrics"); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("GET /metrics Host evil.example: %d", w.Code)
	}
	if w := serve("GET", "localhost:9999", "/metrics"); w.Code != http.StatusOK {
		t.Errorf("GET /metrics: %d", w.Code)
	}
	// / is the Cloud API's, whatever the Host: its envelope refuses it.
	if w := serve("POST", "evil.example", "/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"UnauthorizedOperation"`) {
		t.Errorf("POST / Host evil.example: %d %s", w.Code, w.Body.String())
	}
}
