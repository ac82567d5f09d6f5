package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A plan with alerts, served over loopback: each threshold a key's
// consumption reaches is logged once, as one JSON line naming the plan,
// the secret_id and the threshold (never the secret), and counted in
// /metrics by plan and threshold, without a key label.
func TestAlertsLoggedAndCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 2)
	code := make(chan int, 1)
	var stderr lockedBuffer
	go func() {
		code <- run(ctx, []string{"-config", "testdata/alerts.json", "-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-log-format", "json"},
			&stderr, func(a string) { addrs <- a })
	}()
	addr, admin := <-addrs, <-addrs
	// Units 3, 6, 9 (80% reached at 8), 10, then refused: 50% at 6,
	// 80% at 9, 100% at 10.
	for i, step := range []struct {
		path   string
		status int
	}{{"/release/generate", 200}, {"/release/generate", 200}, {"/release/generate", 200}, {"/release/generate", 429}, {"/release/orders", 200}, {"/release/orders", 429}} {
		if c, _ := get(t, "http://"+addr+step.path); c != step.status {
			t.Fatalf("step %d: %s: %d, want %d", i, step.path, c, step.status)
		}
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, th := range []string{"50", "80", "100"} {
		want := `planguard_quota_alerts_total{plan="usagePlan-alerts01",threshold="` + th + `"} 1`
		if !strings.Contains(string(data), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if c := <-func() chan int { cancel(); return code }(); c != 0 {
		t.Fatalf("exit %d: %s", c, stderr.String())
	}
	got := map[float64]int{}
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "quota alert" {
			continue
		}
		if strings.Contains(line, "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC") {
			t.Fatalf("the secret is logged: %s", line)
		}
		if rec["plan"] != "usagePlan-alerts01" || rec["secret_id"] != "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN" || rec["quota"] != float64(10) {
			t.Fatalf("alert line %s", line)
		}
		got[rec["threshold"].(float64)]++
		want := map[float64]float64{50: 6, 80: 9, 100: 10}[rec["threshold"].(float64)]
		if rec["used"] != want {
			t.Fatalf("alert line %s: used %v, want %v", line, rec["used"], want)
		}
	}
	if len(got) != 3 || got[50] != 1 || got[80] != 1 || got[100] != 1 {
		t.Fatalf("alert lines by threshold: %v\n%s", got, stderr.String())
	}
}
