package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/metering"
)

// With -state, the usage history goes to the state file: a graceful
// stop writes what the last interval held, hourly in UTC and daily in
// the plan's time zone (Asia/Shanghai).
func TestHistoryWrittenOnStop(t *testing.T) {
	state := filepath.Join(t.TempDir(), "usage.db")
	addr, stop := start(t, "-config", "testdata/config.json", "-state", state, "-history-interval", "1h")
	codes := map[int]int{}
	for range 5 {
		code, _ := get(t, "http://"+addr+"/release/orders")
		codes[code]++
	}
	if codes[200] != 3 || codes[429] != 2 {
		t.Fatalf("%v, want 3 admitted (the quota) and 2 refused", codes)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	s, err := boltstore.Open(state, boltstore.Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	want := metering.Counts{Requests: 3, Units: 3, RefusedQuota: 2}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		rows, err := s.History(context.Background(), metering.Query{Plan: "usagePlan-kgf82zcd", Granularity: g, From: now.Add(-48 * time.Hour), To: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got metering.Counts
		for _, r := range rows {
			got.Add(r.Counts)
			if g == metering.Day {
				if h, m, _ := r.Start.In(shanghai(t)).Clock(); h != 0 || m != 0 {
					t.Errorf("a daily row starts at %v, not at midnight in Asia/Shanghai", r.Start)
				}
			}
		}
		if got != want {
			t.Errorf("%s rows: %+v, want %+v", g, got, want)
		}
	}
}

func shanghai(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestHistoryIntervalMustBePositive(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", "testdata/config.json", "-history-interval", "0s"}, &stderr, nil); code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr.String())
	}
}

// A real process killed with SIGKILL loses the history of its last
// interval and nothing else: what earlier runs wrote is there, the file
// opens (no damage), and the quota the killed run used is still counted.
func TestHistoryAfterSIGKILL(t *testing.T) {
	bin := proctest.Build(t, ".")
	state := filepath.Join(t.TempDir(), "usage.db")
	orders := func(addr string) int {
		resp, err := client.Get("http://" + addr + "/release/orders")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// serve starts the server on the state file and returns its address
	// and the process.
	serve := func() (string, *proctest.Process) {
		p := proctest.Start(t, exec.Command(bin, "-config", "testdata/config.json", "-addr", "127.0.0.1:0", "-state", state, "-history-interval", "1h"))
		return p.WaitAttrs("serving", "addr")[0], p
	}
	// A first run, stopped gracefully: its 2 requests are written.
	addr, p := serve()
	for range 2 {
		if c := orders(addr); c != 200 {
			t.Fatalf("first run: %d", c)
		}
	}
	p.Stop()
	// A second run, killed: its request's history is lost, its quota is not.
	addr, p = serve()
	if c := orders(addr); c != 200 {
		t.Fatalf("second run: %d", c)
	}
	p.Kill() // SIGKILL, this test's own process
	s, err := boltstore.Open(state, boltstore.Config{Create: true})
	if err != nil {
		t.Fatalf("the state file after SIGKILL: %v", err)
	}
	now := time.Now()
	rows, err := s.History(context.Background(), metering.Query{Plan: "usagePlan-kgf82zcd", Granularity: metering.Hour, From: now.Add(-24 * time.Hour), To: now.Add(time.Hour)})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got metering.Counts
	for _, r := range rows {
		got.Add(r.Counts)
	}
	if got != (metering.Counts{Requests: 2, Units: 2}) {
		t.Fatalf("history after SIGKILL: %+v, want the first run's 2 requests", got)
	}
	// The quota (3 a month) counts all three requests.
	addr, p = serve()
	if c := orders(addr); c != 429 {
		t.Fatalf("after SIGKILL, a fourth request: %d, want 429 (the quota of 3 spent)", c)
	}
	p.Signal(syscall.SIGTERM)
	p.Wait()
}
