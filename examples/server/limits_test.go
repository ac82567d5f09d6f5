package main

import (
	"net/http"
	"testing"
)

// A config with every field of the limits model (burst, windows of a
// named and a Go-duration per, a per-API throttle, a plan with enforce
// false), served over loopback: the headers list every policy, report the
// one closest to exhaustion, and the dry-run plan serves what it would
// refuse.
func TestPlanLimitsOverLoopback(t *testing.T) {
	addr, stop := start(t, "-config", "testdata/limits.json")
	defer stop()
	do := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	expect := func(resp *http.Response, status int, state, retry string) {
		t.Helper()
		if resp.StatusCode != status || resp.Header.Get("RateLimit") != state || resp.Header.Get("Retry-After") != retry {
			t.Fatalf("%s: %d, RateLimit %q, Retry-After %q; want %d, %q, %q", resp.Request.URL.Path, resp.StatusCode,
				resp.Header.Get("RateLimit"), resp.Header.Get("Retry-After"), status, state, retry)
		}
	}
	policy := `"throttle";q=1;w=1, "qps";q=100;w=1, "per_hour";q=4;w=3600, "per_10s";q=50;w=10, "quota";q=1000;w=86400`
	for range 2 {
		resp := do("/release/orders/1")
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Policy") != policy {
			t.Fatalf("%d, RateLimit-Policy %q", resp.StatusCode, resp.Header.Get("RateLimit-Policy"))
		}
	}
	expect(do("/release/orders/1"), 429, `"throttle";r=0;t=1`, "1") // the API's throttle, burst 2
	resp := do("/release/orders")                                   // no throttle; the 3rd of 4 per hour
	expect(resp, 200, `"per_hour";r=1;t=2700`, "")
	if got := resp.Header.Get("RateLimit-Policy"); got != `"qps";q=100;w=1, "per_hour";q=4;w=3600, "per_10s";q=50;w=10, "quota";q=1000;w=86400` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	expect(do("/release/orders"), 200, `"per_hour";r=0;t=900`, "") // the 4th; a token every 15 minutes
	resp = do("/release/orders")
	expect(resp, 429, `"per_hour";r=0;t=900`, "900")
	if got := resp.Header.Get("X-UsagePlan-Quota"); got != "996/1000" {
		t.Fatalf("X-UsagePlan-Quota %q: the refused requests consumed nothing", got)
	}

	// The dry-run plan: the second request exceeds both its limits and
	// is served, reported as refused, without Retry-After.
	expect(do("/test/orders"), 200, `"per_day";r=0;t=86400`, "") // empty, as its QPS bucket, but for longer
	expect(do("/test/orders"), 200, `"per_day";r=0;t=86400`, "")
}
