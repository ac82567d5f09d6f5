package redisstore

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

// One key whose history count would pass
// math.MaxInt64 in Redis (HINCRBY answers "increment or decrement would
// overflow") fails every later flush of the batch it is in; Redis does
// not roll back the other HINCRBYs of the MULTI/EXEC, and the Recorder
// keeps the whole batch for the next flush, so every other key of the
// batch is counted again at each flush, for as long as the bad row stays
// pending. A middleware.Charge of a huge unit count (a handler charging a
// client-influenced figure) is enough to get there: the victim's billed
// units grow every FlushInterval.
func TestHistoryOverflowDoesNotDoubleCountOtherKeys(t *testing.T) {
	s, _ := newStore(t, redisAddr, Config{})
	now := h0.Add(time.Minute)
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const plan = "usagePlan-ovf"
	rec.Record(plan, "AKIDattacker", nil, metering.Counts{Requests: 1, Units: math.MaxInt64})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The next hour-slice: the attacker's one more unit, and a victim's
	// ten requests.
	rec.Record(plan, "AKIDattacker", nil, metering.Counts{Units: 1})
	rec.Record(plan, "AKIDvictim", nil, metering.Counts{Requests: 10, Units: 10})
	var errs int
	for range 3 {
		if rec.Flush(ctx) != nil {
			errs++
		}
	}
	rows, err := s.History(ctx, metering.Query{Plan: plan, Keys: []string{"AKIDvictim"}, Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, r := range rows {
		got += r.Units
	}
	if got != 10 {
		t.Fatalf("victim's stored history has %d units for 10 recorded (%d of 3 flushes failed)", got, errs)
	}
}

// A batch one of whose rows Redis would refuse (its hash key holds
// another type) adds none of its rows: the script checks every key
// before it writes, so nothing is written that a retry would add again.
func TestHistoryRefusedRowAddsNothing(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	const plan = "usagePlan-rt"
	if err := c.Set(ctx, s.historyKey(plan, "AKIDbad", metering.Hour), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	good := metering.Row{Plan: plan, Key: "AKIDgood", Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Units: 5}}
	bad := metering.Row{Plan: plan, Key: "AKIDbad", Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Units: 1}}
	after := metering.Row{Plan: plan, Key: "AKIDafter", Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Units: 2}}
	err := s.AddHistory(ctx, batch(good, bad, after))
	if pw := (*metering.PartialWriteError)(nil); err == nil || errors.As(err, &pw) {
		t.Fatalf("AddHistory: %v, want an error with no row written", err)
	}
	if got := onceHistory(t, s, plan, "AKIDgood", "AKIDafter"); len(got) != 0 {
		t.Fatalf("rows %+v added by a failed write", got)
	}
	if n, err := c.Exists(ctx, s.prefix+"h:plans").Result(); err != nil || n != 0 {
		t.Fatalf("the plan set written by a failed write (%d, %v)", n, err)
	}
}
