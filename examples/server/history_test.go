package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/planguard/planguard/boltstore"
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
	s, err := boltstore.Open(state, boltstore.Options{})
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
