package metering_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/planguardtest"
)

// Through the middleware, days follow the plan's timeZone: one signed
// request at 30 minutes past every UTC hour, from the local midnight
// before the day of a clock change to the one after the next day, gives
// that day 23 or 25 requests (New York in March and November, Sydney in
// October and April) and the days around it 24; hourly rows start on UTC
// hours, one per hour of the day.
func TestDaysFollowThePlanTimeZoneThroughTheMiddleware(t *testing.T) {
	for _, tc := range []struct {
		zone  string
		day   string // the local date of the change
		hours int
	}{
		{"America/New_York", "2026-03-08", 23},
		{"America/New_York", "2026-11-01", 25},
		{"Australia/Sydney", "2026-10-04", 23},
		{"Australia/Sydney", "2026-04-05", 25},
		{"Asia/Shanghai", "2026-11-01", 24},
	} {
		t.Run(tc.zone+" "+tc.day, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			day, err := time.ParseInLocation(time.DateOnly, tc.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			before := day.AddDate(0, 0, -1)
			clock := planguardtest.NewManualClock(before.Add(30 * time.Minute))
			rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			kit, err := planguardtest.New(planguardtest.Config{JSON: dstConfig(tc.zone), Clock: clock,
				Middleware: middleware.Config{Meter: rec}})
			if err != nil {
				t.Fatal(err)
			}
			defer kit.Close()
			after := day.AddDate(0, 0, 2)
			n := int(after.Sub(before) / time.Hour)
			res := kit.Run(planguardtest.Traffic{Key: "AKIDdst0000000000000000000000000000", API: "listOrders", Count: n, Rate: 1.0 / 3600})
			if s := res.Statuses(); s[200] != n {
				t.Fatalf("%v, want %d admitted", s, n)
			}
			ctx := context.Background()
			days, err := rec.History(ctx, metering.Query{Plan: "usagePlan-dst00001", Granularity: metering.Day, From: before, To: after})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				fmt.Sprintf("%s 24", metering.FormatTime(before)),
				fmt.Sprintf("%s %d", metering.FormatTime(day), tc.hours),
				fmt.Sprintf("%s 24", metering.FormatTime(day.AddDate(0, 0, 1))),
			}
			if len(days) != len(want) {
				t.Fatalf("%d daily rows, want 3: %+v", len(days), days)
			}
			for i, r := range days {
				if got := fmt.Sprintf("%s %d", metering.FormatTime(r.Start), r.Requests); got != want[i] {
					t.Errorf("day %d: %s, want %s", i, got, want[i])
				}
			}
			hours, err := rec.History(ctx, metering.Query{Plan: "usagePlan-dst00001", Granularity: metering.Hour, From: day, To: day.AddDate(0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if len(hours) != tc.hours {
				t.Fatalf("%d hourly rows in the day, want %d", len(hours), tc.hours)
			}
			for _, h := range hours {
				if !h.Start.Equal(h.Start.Truncate(time.Hour)) || h.Start.Location() != time.UTC || h.Requests != 1 {
					t.Fatalf("hourly row %+v", h)
				}
			}
		})
	}
}

func dstConfig(zone string) string {
	return `{
  "services": [{"id": "service-dst00001", "name": "orders", "environments": ["release"],
    "apis": [{"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"}]}],
  "keys": [{"id": "AKIDdst0000000000000000000000000000", "name": "dst", "secret": "secret-dst-0123456789abcdef"}],
  "plans": [{"id": "usagePlan-dst00001", "name": "dst", "qps": 10, "quota": 1000, "quotaPeriod": "day",
    "timeZone": "` + zone + `", "keys": ["AKIDdst0000000000000000000000000000"],
    "bindings": [{"service": "service-dst00001", "environment": "release"}]}]
}`
}
