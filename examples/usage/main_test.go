package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/redisstore"
)

var ctx = context.Background()

var h0 = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// record writes a day of history for two plans through a Recorder, as a
// server does.
func record(t *testing.T, s metering.HistoryStore) {
	t.Helper()
	now := h0
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for h := range 24 {
		now = h0.Add(time.Duration(h)*time.Hour + time.Minute)
		rec.Record("usagePlan-gold0001", "AKIDa", nil, metering.Counts{Requests: 2, Units: 2})
		rec.Record("usagePlan-gold0001", "AKIDb", nil, metering.Counts{Requests: 1, Units: 1, RefusedQuota: 1})
		rec.Record("usagePlan-free0001", "AKIDc", nil, metering.Counts{RefusedRate: 3})
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func exportArgs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(ctx, args, &out, &errs)
	return out.String(), errs.String(), code
}

func boltFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := boltstore.Open(path, boltstore.Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	record(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExportBoltCSV(t *testing.T) {
	path := boltFile(t)
	args := []string{"-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00", "-granularity", "hour", "-format", "csv"}
	out, errs, code := exportArgs(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+3*24 || strings.Join(recs[0], ",") != strings.Join(metering.Columns, ",") {
		t.Fatalf("%d lines, header %q", len(recs), recs[0])
	}
	// Plans in order, then keys, then starts.
	first, last := recs[1], recs[len(recs)-1]
	if first[1] != "usagePlan-free0001" || first[4] != "2026-11-30 00:00:00" || first[8] != "3" ||
		last[1] != "usagePlan-gold0001" || last[2] != "AKIDb" || last[4] != "2026-11-30 23:00:00" || last[5] != "1" || last[9] != "1" {
		t.Fatalf("first %q, last %q", first, last)
	}
	// Re-exporting gives the same rows and the same RecordIds.
	again, _, _ := exportArgs(t, args...)
	if again != out {
		t.Fatal("a second export differs from the first")
	}
	// One plan, a narrower range.
	out, errs, code = exportArgs(t, "-state", path, "-plan", "usagePlan-gold0001", "-from", "2026-11-30 10:00:00", "-to", "2026-11-30 12:00:00")
	if code != 0 || strings.Count(out, "\n") != 1+2*2 || strings.Contains(out, "free0001") {
		t.Fatalf("exit %d, %s%s", code, out, errs)
	}
}

func TestExportBoltDaysJSONLines(t *testing.T) {
	path := boltFile(t)
	out, errs, code := exportArgs(t, "-state", path, "-from", "2026-11-01 00:00:00", "-to", "2026-12-01 00:00:00", "-granularity", "day", "-format", "jsonl", "-plan", "usagePlan-gold0001")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), out)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	want := metering.Row{Plan: "usagePlan-gold0001", Key: "AKIDa", Granularity: metering.Day, Start: h0}
	if row["RecordId"] != want.RecordID() || row["SecretId"] != "AKIDa" || row["Granularity"] != "DAY" || row["Requests"] != 48.0 || row["Units"] != 48.0 {
		t.Fatalf("row %s", lines[0])
	}
}

func TestExportRefusesBadInput(t *testing.T) {
	t.Setenv(adminSecretEnv, "")
	path := boltFile(t)
	missing := filepath.Join(t.TempDir(), "none.db")
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no store":         {[]string{"-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "one of -admin, -state and -redis"},
		"both stores":      {[]string{"-state", path, "-redis", "127.0.0.1:1", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "exclusive"},
		"no range":         {[]string{"-state", path}, 2, "-from and -to are required"},
		"bad time":         {[]string{"-state", path, "-from", "2026-11-30T00:00:00Z", "-to", "2026-12-01 00:00:00"}, 2, "YYYY-MM-DD HH:MM:SS"},
		"empty range":      {[]string{"-state", path, "-from", "2026-12-01 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "not before its end"},
		"bad granularity":  {[]string{"-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00", "-granularity", "week"}, 2, "HOUR or DAY"},
		"bad format":       {[]string{"-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00", "-format", "xml"}, 2, "csv or jsonl"},
		"admin and state":  {[]string{"-admin", "127.0.0.1:1", "-admin-id", "a", "-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "exclusive"},
		"admin, no id":     {[]string{"-admin", "127.0.0.1:1", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "-admin needs -admin-id"},
		"admin, no secret": {[]string{"-admin", "127.0.0.1:1", "-admin-id", "a", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "$PLANGUARD_ADMIN_SECRET"},
		"id, no admin":     {[]string{"-admin-id", "a", "-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "-admin-id goes with -admin"},
		"admin path":       {[]string{"-admin", "http://127.0.0.1:1/v1", "-admin-id", "a", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "no path"},
		"admin scheme":     {[]string{"-admin", "ftp://127.0.0.1:1", "-admin-id", "a", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 2, "want http://HOST:PORT"},
		"missing file":     {[]string{"-state", missing, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"}, 1, "does not exist"},
	} {
		_, errs, code := exportArgs(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %q; want %d and %q", name, code, errs, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("exporting from a missing file created it")
	}
	// A file a running server holds.
	s, err := boltstore.Open(path, boltstore.Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, errs, code := exportArgs(t, "-state", path, "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00"); code != 1 || !strings.Contains(errs, "stop the server") {
		t.Errorf("a locked file: exit %d, %q", code, errs)
	}
}

// startRedis starts a redis-server on a free loopback port for one test;
// without the binary it uses $REDIS_ADDR, where this test's plan's
// history (and only it) is deleted first.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		addr := os.Getenv("REDIS_ADDR")
		if addr == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("CI needs redis-server or REDIS_ADDR:", err)
			}
			t.Skip("no redis-server and no REDIS_ADDR")
		}
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		stale, _ := c.Keys(ctx, "pg:{18:usagePlan-gold0001*").Result()
		if len(stale) > 0 {
			c.Del(ctx, stale...)
		}
		return addr
	}
	addr := proctest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	// The redis-server this test started, killed by its PID at the end.
	p := proctest.Start(t, exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir()))
	p.WaitListening(addr)
	return addr
}

func TestExportRedis(t *testing.T) {
	addr := startRedis(t)
	s, err := redisstore.Dial(redis.Options{Addr: addr}, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, s)
	s.Close()
	args := []string{"-redis", addr, "-plan", "usagePlan-gold0001", "-from", "2026-11-30 00:00:00", "-to", "2026-12-01 00:00:00", "-granularity", "day"}
	out, errs, code := exportArgs(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records (%v): %s", len(recs), err, out)
	}
	if strings.Join(recs[1][1:], ",") != "usagePlan-gold0001,AKIDa,DAY,2026-11-30 00:00:00,48,48,0,0,0" ||
		strings.Join(recs[2][1:], ",") != "usagePlan-gold0001,AKIDb,DAY,2026-11-30 00:00:00,24,24,0,0,24" {
		t.Fatalf("rows %q", recs[1:])
	}
	if again, _, _ := exportArgs(t, args...); again != out {
		t.Fatal("a second export differs from the first")
	}
}
