package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/metering"
)

const (
	adminID     = "AKIDadmin0000000000000000000000000000"
	adminSecret = "admin-secret-0123456789abcdef"
	keyA, keyB  = "AKIDusageA000000000000000000000000000", "AKIDusageB000000000000000000000000000"
	keyC        = "AKIDusageC000000000000000000000000000"
)

// loopbackConfig: createOrder costs 5 units, listOrders 1; gold (in New
// York, so its days start at 04:00 or 05:00 UTC) gives each key 20 units
// a month; free allows 1 request a second.
const loopbackConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-post0001", "name": "createOrder", "method": "POST", "path": "/orders", "cost": 5}
     ]}
  ],
  "keys": [
    {"id": "` + keyA + `", "name": "a", "secret": "secret-of-key-a-0123456789abcdef"},
    {"id": "` + keyB + `", "name": "b", "secret": "secret-of-key-b-0123456789abcdef"},
    {"id": "` + keyC + `", "name": "c", "secret": "secret-of-key-c-0123456789abcdef"}
  ],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": 1000, "quota": 20, "quotaPeriod": "month",
     "timeZone": "America/New_York", "keys": ["` + keyA + `", "` + keyB + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},
    {"id": "usagePlan-free0001", "name": "free", "qps": 1, "keys": ["` + keyC + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "test"}]}
  ]
}`

func signed(id, secret string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &keys.Transport{Signer: &keys.Signer{ID: id, Secret: keys.NewSecret(secret)}}}
}

func send(t *testing.T, c *http.Client, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Over loopback: examples/server with costs, signed traffic, then
// DescribeUsageHistory through its admin API returns the rows (what the
// Recorder holds, before any flush); the export command with -admin
// writes them; exporting again gives the same RecordIds; and after a
// graceful stop has flushed the history to the state file, the export
// read from the file is byte for byte the one read through the admin
// API, hourly and daily, CSV and JSON lines.
func TestExportThroughAdminAPI(t *testing.T) {
	bin := proctest.Build(t, filepath.Join("..", "server"))
	dir := t.TempDir()
	config, state := filepath.Join(dir, "planguard.json"), filepath.Join(dir, "usage.db")
	if err := os.WriteFile(config, []byte(loopbackConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", config, "-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-admin-id", adminID,
		"-state", state, "-history-interval", "1h")
	cmd.Env = append(os.Environ(), adminSecretEnv+"="+adminSecret)
	p := proctest.Start(t, cmd)
	addrs := p.WaitAttrs("serving", "addr", "admin") // both listeners are bound before that line
	addr, admin := addrs[0], addrs[1]

	// Key A: 6 reads (1 unit each), then creates (5 units each): 2 fit
	// in the 14 units left, 3 are refused for the quota. Key B: 3 reads.
	// Key C: 4 reads at once under 1 QPS: at least 1 refused for the rate.
	a, b, c := signed(keyA, "secret-of-key-a-0123456789abcdef"), signed(keyB, "secret-of-key-b-0123456789abcdef"), signed(keyC, "secret-of-key-c-0123456789abcdef")
	codes := map[int]int{}
	for range 6 {
		codes[send(t, a, http.MethodGet, "http://"+addr+"/release/orders")]++
	}
	for range 5 {
		codes[send(t, a, http.MethodPost, "http://"+addr+"/release/orders")]++
	}
	if codes[200] != 8 || codes[429] != 3 {
		t.Fatalf("key A: %v, want 8 admitted and 3 refused", codes)
	}
	for range 3 {
		if code := send(t, b, http.MethodGet, "http://"+addr+"/release/orders"); code != 200 {
			t.Fatalf("key B: %d", code)
		}
	}
	refused := 0
	for range 4 {
		if send(t, c, http.MethodGet, "http://"+addr+"/test/orders") == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("key C: 4 requests at once under 1 QPS, none refused")
	}

	now := time.Now().UTC()
	from, to := metering.FormatTime(now.Add(-48*time.Hour).Truncate(time.Hour)), metering.FormatTime(now.Add(48*time.Hour).Truncate(time.Hour))
	t.Setenv(adminSecretEnv, adminSecret)
	client, err := newAdminClient("http://"+admin, adminID, keys.NewSecret(adminSecret))
	if err != nil {
		t.Fatal(err)
	}

	// DescribeUsageHistory returns the day's rows of gold's keys.
	var set cloudapi.UsageHistorySet
	if err := client.call(ctx, "DescribeUsageHistory", map[string]any{"UsagePlanId": "usagePlan-gold0001",
		"StartTime": from, "EndTime": to, "Granularity": "DAY"}, &set); err != nil {
		t.Fatal(err)
	}
	want := map[string]metering.Counts{keyA: {Requests: 8, Units: 16, RefusedQuota: 3}, keyB: {Requests: 3, Units: 3}}
	got := map[string]metering.Counts{}
	for _, r := range set.UsageHistorySet {
		c := got[r.SecretID]
		c.Add(metering.Counts{Requests: r.Requests, Units: r.Units, Overage: r.Overage, RefusedRate: r.RefusedRate, RefusedQuota: r.RefusedQuota})
		got[r.SecretID] = c
		if h := r.StartTime[11:]; h != "04:00:00" && h != "05:00:00" {
			t.Errorf("a daily row of a plan in New York starts at %s UTC, not at its midnight", r.StartTime)
		}
	}
	if set.TotalCount != len(set.UsageHistorySet) || got[keyA] != want[keyA] || got[keyB] != want[keyB] || len(got) != 2 {
		t.Fatalf("DescribeUsageHistory: %d rows, %+v; want %+v", set.TotalCount, got, want)
	}

	exports := map[string]string{}
	for _, g := range []string{"hour", "day"} {
		for _, f := range []string{"csv", "jsonl"} {
			args := []string{"-admin", "http://" + admin, "-admin-id", adminID, "-from", from, "-to", to, "-granularity", g, "-format", f}
			t.Setenv(adminSecretEnv, adminSecret) // each run reads it once and unsets it, as a process does
			out, errs, code := exportArgs(t, args...)
			if code != 0 || out == "" {
				t.Fatalf("export %s %s through the admin API: exit %d: %s", g, f, code, errs)
			}
			if v, set := os.LookupEnv(adminSecretEnv); set {
				t.Fatalf("$%s is still set after the export read it (%d bytes)", adminSecretEnv, len(v))
			}
			t.Setenv(adminSecretEnv, adminSecret)
			again, _, _ := exportArgs(t, args...)
			if again != out {
				t.Fatalf("%s %s: exporting again gave\n%s\nafter\n%s", g, f, again, out)
			}
			exports[g+" "+f] = out
		}
	}
	// The CSV names every key, with its RecordIds once each.
	recs, err := csv.NewReader(strings.NewReader(exports["hour csv"])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ids, units := map[string]bool{}, map[string]string{}
	for _, r := range recs[1:] {
		if ids[r[0]] {
			t.Fatalf("RecordId %s twice", r[0])
		}
		ids[r[0]] = true
		units[r[2]] = r[6]
	}
	if len(recs) < 4 || units[keyC] == "" || strings.Join(recs[0], ",") != strings.Join(metering.Columns, ",") {
		t.Fatalf("the hourly CSV:\n%s", exports["hour csv"])
	}
	// One plan through -plan, as JSON lines.
	t.Setenv(adminSecretEnv, adminSecret)
	out, errs, code := exportArgs(t, "-admin", admin, "-admin-id", adminID, "-plan", "usagePlan-free0001", "-from", from, "-to", to, "-format", "jsonl")
	if code != 0 {
		t.Fatalf("-plan: exit %d: %s", code, errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil || row["UsagePlanId"] != "usagePlan-free0001" || row["SecretId"] != keyC {
			t.Fatalf("-plan usagePlan-free0001: %s", out)
		}
	}
	// A wrong secret is the server's refusal, exit 1.
	t.Setenv(adminSecretEnv, "wrong-secret-0123456789abcdef")
	if _, errs, code := exportArgs(t, "-admin", admin, "-admin-id", adminID, "-from", from, "-to", to); code != 1 || !strings.Contains(errs, "AuthFailure") || strings.Contains(errs, "wrong-secret") {
		t.Fatalf("a wrong secret: exit %d, %s", code, errs)
	}

	// A graceful stop writes the history to the state file; read from
	// it, every export is the one the admin API gave.
	p.Stop()
	for _, g := range []string{"hour", "day"} {
		for _, f := range []string{"csv", "jsonl"} {
			out, errs, code := exportArgs(t, "-state", state, "-from", from, "-to", to, "-granularity", g, "-format", f)
			if code != 0 {
				t.Fatalf("export %s %s from the state file: exit %d: %s", g, f, code, errs)
			}
			if out != exports[g+" "+f] {
				t.Errorf("%s %s: the state file gives\n%s\nthe admin API gave\n%s", g, f, out, exports[g+" "+f])
			}
		}
	}
}
