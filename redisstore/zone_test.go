package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

func zoneConfig(zone string) string {
	return `{"plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "quota": 10, "quotaPeriod": "day", "timeZone": "` + zone + `"}]}`
}

// Two servers on one Redis, each loading the same config: the day
// windows they compute agree, so a day quota of 10 admits 10 in total.
// A zone name that each host would resolve for itself ("Local") is
// refused when the config loads, since two servers in UTC and in Tokyo
// each admit the whole quota, as the last part shows.
func TestInstancesAgreeOnCalendarWindows(t *testing.T) {
	_, err := usageplan.LoadConfig(strings.NewReader(zoneConfig("Local")), usageplan.RegistryConfig{})
	if err == nil || !strings.Contains(err.Error(), `plans[0].timeZone: "Local" is not an IANA time zone name`) {
		t.Fatalf("Local loads: %v", err)
	}

	// 20:00 UTC is 05:00 the next day in Tokyo.
	now := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	admitted := func(locA, locB *time.Location) int {
		s, _ := newStore(t, redisAddr, Config{})
		var servers []*limiter.Limiter
		for range 2 {
			l, err := limiter.New(s, limiter.Config{})
			if err != nil {
				t.Fatal(err)
			}
			servers = append(servers, l)
		}
		var n int
		for i := range 20 {
			l, loc := servers[i%2], locA
			if i%2 == 1 {
				loc = locB
			}
			d, err := l.AllowAt(ctx, now.Add(time.Duration(i)*time.Minute), limiter.Request{Plan: "usagePlan-aaaaaaaa", Key: "k", Limits: limiter.Limits{QPS: 1000, Quota: 10, Period: limiter.Day, Location: loc}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				n++
			}
		}
		return n
	}

	var locs []*time.Location
	for range 2 { // one registry per server
		reg, err := usageplan.LoadConfig(strings.NewReader(zoneConfig("Asia/Tokyo")), usageplan.RegistryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := reg.Snapshot().PlanLocation("usagePlan-aaaaaaaa")
		locs = append(locs, loc)
	}
	if n := admitted(locs[0], locs[1]); n != 10 {
		t.Fatalf("same zone name on two servers: admitted %d of a quota of 10", n)
	}
	if n := admitted(time.UTC, locs[1]); n != 20 {
		t.Fatalf("servers in UTC and Tokyo: admitted %d, want 20 (each its own window)", n)
	}
}
