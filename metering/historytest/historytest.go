// Package historytest is the conformance suite of metering.HistoryStore:
// every store runs it against a fresh store. newStore is called from the
// test's goroutines one call at a time: it need not be safe for
// concurrent use, but the stores it returns must be.
package historytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

// Run checks s's behaviour. newStore returns an empty store; each
// subtest gets its own.
func Run(t *testing.T, newStore func(t *testing.T) metering.HistoryStore) {
	tests := []struct {
		name string
		test func(*testing.T, metering.HistoryStore)
	}{
		{"AddAndQuery", testAddAndQuery},
		{"AddSums", testAddSums},
		{"Bounds", testBounds},
		{"Limit", testLimit},
		{"Prune", testPrune},
		{"BadRows", testBadRows},
		{"IDsDoNotCollide", testIDsDoNotCollide},
		{"LargeCounts", testLargeCounts},
		{"Saturates", testSaturates},
		{"Concurrent", testConcurrent},
		{"Plans", testPlans},
		{"RetentionUnderChurn", testRetentionUnderChurn},
		{"BatchAppliedOnce", testBatchAppliedOnce},
		{"BatchReplayedConcurrently", testBatchReplayedConcurrently},
		{"NewerSeqCountsAgain", testNewerSeqCountsAgain},
		{"OlderSeqAfterNewerCountsNothing", testOlderSeqAfterNewerCountsNothing},
		{"OtherWriterSameSeqCounts", testOtherWriterSameSeqCounts},
		{"BadBatch", testBadBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var (
	ctx  = context.Background()
	base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

func hourRow(plan, key string, h int, c metering.Counts) metering.Row {
	return metering.Row{Plan: plan, Key: key, Granularity: metering.Hour, Start: base.Add(time.Duration(h) * time.Hour), Counts: c}
}

func dayRow(plan, key string, d int, c metering.Counts) metering.Row {
	return metering.Row{Plan: plan, Key: key, Granularity: metering.Day, Start: base.AddDate(0, 0, d), Counts: c}
}

// add writes rows as the first batch of a new writer.
func add(t *testing.T, s metering.HistoryStore, rows ...metering.Row) {
	t.Helper()
	if err := s.AddHistory(ctx, metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}); err != nil {
		t.Fatalf("AddHistory: %v", err)
	}
}

func query(t *testing.T, s metering.HistoryStore, q metering.Query) []metering.Row {
	t.Helper()
	rows, err := s.History(ctx, q)
	if err != nil {
		t.Fatalf("History(%+v): %v", q, err)
	}
	return rows
}

func equal(t *testing.T, got, want []metering.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Plan != w.Plan || g.Key != w.Key || g.Granularity != w.Granularity || !g.Start.Equal(w.Start) || g.Counts != w.Counts {
			t.Fatalf("row %d: got %+v, want %+v", i, g, w)
		}
		if g.Start.Location() != time.UTC {
			t.Fatalf("row %d: Start %v is not in UTC", i, g.Start)
		}
	}
}

func hours(plan string, from, to int) metering.Query {
	return metering.Query{Plan: plan, Granularity: metering.Hour, From: base.Add(time.Duration(from) * time.Hour), To: base.Add(time.Duration(to) * time.Hour)}
}

func testAddAndQuery(t *testing.T, s metering.HistoryStore) {
	c1 := metering.Counts{Requests: 1, Units: 2, Overage: 3, RefusedRate: 4, RefusedQuota: 5}
	c2 := metering.Counts{Requests: 10, Units: 20}
	add(t, s,
		hourRow("usagePlan-a", "AKIDb", 1, c2), hourRow("usagePlan-a", "AKIDa", 2, c1), hourRow("usagePlan-a", "AKIDa", 1, c2),
		dayRow("usagePlan-a", "AKIDa", 0, c1), hourRow("usagePlan-other", "AKIDa", 1, c1),
	)
	equal(t, query(t, s, hours("usagePlan-a", 0, 24)), []metering.Row{
		hourRow("usagePlan-a", "AKIDa", 1, c2), hourRow("usagePlan-a", "AKIDa", 2, c1), hourRow("usagePlan-a", "AKIDb", 1, c2),
	})
	q := hours("usagePlan-a", 0, 24)
	q.Keys = []string{"AKIDb", "AKIDnone"}
	equal(t, query(t, s, q), []metering.Row{hourRow("usagePlan-a", "AKIDb", 1, c2)})
	days := metering.Query{Plan: "usagePlan-a", Granularity: metering.Day, From: base, To: base.AddDate(0, 0, 1)}
	equal(t, query(t, s, days), []metering.Row{dayRow("usagePlan-a", "AKIDa", 0, c1)})
	equal(t, query(t, s, hours("usagePlan-none", 0, 24)), nil)
}

func testAddSums(t *testing.T, s metering.HistoryStore) {
	c := metering.Counts{Requests: 1, Units: 3, Overage: 1, RefusedRate: 2, RefusedQuota: 1}
	add(t, s, hourRow("usagePlan-a", "AKIDa", 0, c), hourRow("usagePlan-a", "AKIDa", 0, c))
	add(t, s, hourRow("usagePlan-a", "AKIDa", 0, c))
	add(t, s) // an empty batch
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), []metering.Row{
		hourRow("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 3, Units: 9, Overage: 3, RefusedRate: 6, RefusedQuota: 3}),
	})
}

func testBounds(t *testing.T, s metering.HistoryStore) {
	c := metering.Counts{Requests: 1}
	for h := -2; h < 6; h++ {
		add(t, s, hourRow("usagePlan-a", "AKIDa", h, c))
	}
	// From is included, To is not.
	equal(t, query(t, s, hours("usagePlan-a", 1, 3)), []metering.Row{hourRow("usagePlan-a", "AKIDa", 1, c), hourRow("usagePlan-a", "AKIDa", 2, c)})
	// Times between row starts select the rows that start in them.
	q := metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: base.Add(-90 * time.Minute), To: base.Add(30 * time.Minute)}
	equal(t, query(t, s, q), []metering.Row{hourRow("usagePlan-a", "AKIDa", -1, c), hourRow("usagePlan-a", "AKIDa", 0, c)})
}

func testPrune(t *testing.T, s metering.HistoryStore) {
	c := metering.Counts{Units: 1}
	for h := range 48 {
		add(t, s, hourRow("usagePlan-a", "AKIDa", h, c), hourRow("usagePlan-b", "AKIDold", h/2, c))
	}
	for d := range 3 {
		add(t, s, dayRow("usagePlan-a", "AKIDa", d, c))
	}
	if err := s.PruneHistory(ctx, metering.Hour, base.Add(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := query(t, s, hours("usagePlan-a", -100, 100))
	if len(got) != 18 || !got[0].Start.Equal(base.Add(30*time.Hour)) {
		t.Fatalf("after pruning before hour 30: %d rows from %v, want 18 from hour 30", len(got), got[0].Start)
	}
	// A key whose rows are all gone is not listed.
	equal(t, query(t, s, hours("usagePlan-b", -100, 100)), nil)
	// The other granularity is untouched.
	days := metering.Query{Plan: "usagePlan-a", Granularity: metering.Day, From: base, To: base.AddDate(0, 0, 3)}
	if n := len(query(t, s, days)); n != 3 {
		t.Fatalf("daily rows after an hourly prune: %d, want 3", n)
	}
	if err := s.PruneHistory(ctx, metering.Day, base.AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	equal(t, query(t, s, days), []metering.Row{dayRow("usagePlan-a", "AKIDa", 2, c)})
	// Rows added after a prune are kept.
	add(t, s, hourRow("usagePlan-b", "AKIDold", 0, c))
	equal(t, query(t, s, hours("usagePlan-b", -100, 100)), []metering.Row{hourRow("usagePlan-b", "AKIDold", 0, c)})
}

func testBadRows(t *testing.T, s metering.HistoryStore) {
	good := hourRow("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 1})
	for name, bad := range map[string]metering.Row{
		"no plan":           hourRow("", "AKIDa", 0, metering.Counts{}),
		"no key":            hourRow("usagePlan-a", "", 0, metering.Counts{}),
		"no granularity":    {Plan: "usagePlan-a", Key: "AKIDa", Start: base},
		"hour off the hour": {Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: base.Add(time.Minute)},
		"hour off by 1 ns":  {Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: base.Add(time.Nanosecond)},
	} {
		if err := s.AddHistory(ctx, metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: []metering.Row{good, bad}}); err == nil {
			t.Errorf("%s: AddHistory accepted the row", name)
		}
	}
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), nil)
}

func testIDsDoNotCollide(t *testing.T, s metering.HistoryStore) {
	add(t, s, hourRow("usagePlan-a", "bc", 0, metering.Counts{Requests: 1}), hourRow("usagePlan-ab", "c", 0, metering.Counts{Requests: 2}))
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), []metering.Row{hourRow("usagePlan-a", "bc", 0, metering.Counts{Requests: 1})})
	equal(t, query(t, s, hours("usagePlan-ab", 0, 1)), []metering.Row{hourRow("usagePlan-ab", "c", 0, metering.Counts{Requests: 2})})
}

func testLargeCounts(t *testing.T, s metering.HistoryStore) {
	big := metering.Counts{Requests: 1 << 60, Units: 1<<62 + 1, Overage: 1<<53 + 1, RefusedRate: 7, RefusedQuota: 1<<40 + 3}
	add(t, s, hourRow("usagePlan-a", "AKIDa", 0, big))
	add(t, s, hourRow("usagePlan-a", "AKIDa", 0, metering.Counts{Units: 1}))
	big.Units++
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), []metering.Row{hourRow("usagePlan-a", "AKIDa", 0, big)})
}

// A count that would pass math.MaxInt64 stops at it: the write that
// gets it there succeeds, and the other rows of its batch are added
// once.
func testSaturates(t *testing.T, s metering.HistoryStore) {
	const maxInt64 = 1<<63 - 1
	add(t, s, hourRow("usagePlan-a", "AKIDbig", 0, metering.Counts{Requests: 1, Units: maxInt64 - 1, Overage: maxInt64}))
	for range 3 {
		add(t, s,
			hourRow("usagePlan-a", "AKIDbig", 0, metering.Counts{Requests: 1, Units: 1 << 62, Overage: maxInt64}),
			hourRow("usagePlan-a", "AKIDother", 0, metering.Counts{Requests: 2, Units: 3}),
		)
	}
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), []metering.Row{
		hourRow("usagePlan-a", "AKIDbig", 0, metering.Counts{Requests: 4, Units: maxInt64, Overage: maxInt64}),
		hourRow("usagePlan-a", "AKIDother", 0, metering.Counts{Requests: 6, Units: 9}),
	})
}

func testConcurrent(t *testing.T, s metering.HistoryStore) {
	const writers, batches = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			writer := metering.NewWriterID()
			for seq := range uint64(batches) {
				rows := []metering.Row{
					hourRow("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 1, Units: 2}),
					hourRow("usagePlan-a", fmt.Sprintf("AKID%02d", w), 1, metering.Counts{Requests: 1}),
				}
				if err := s.AddHistory(ctx, metering.Batch{Writer: writer, Seq: seq + 1, Rows: rows}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rows := query(t, s, hours("usagePlan-a", 0, 2))
	if len(rows) != writers+1 {
		t.Fatalf("%d rows, want %d", len(rows), writers+1)
	}
	shared := rows[len(rows)-1] // "AKIDa" sorts after "AKID00".."AKID15"
	if want := (metering.Counts{Requests: writers * batches, Units: 2 * writers * batches}); shared.Key != "AKIDa" || shared.Counts != want {
		t.Fatalf("shared row %+v, want AKIDa with %+v", shared, want)
	}
	for _, r := range rows[:len(rows)-1] {
		if r.Requests != batches {
			t.Fatalf("row of %s: %d requests, want %d", r.Key, r.Requests, batches)
		}
	}
}

func plans(t *testing.T, s metering.HistoryStore) []string {
	t.Helper()
	p, err := s.HistoryPlans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testPlans(t *testing.T, s metering.HistoryStore) {
	if p := plans(t, s); len(p) != 0 {
		t.Fatalf("an empty store lists plans %q", p)
	}
	c := metering.Counts{Requests: 1}
	add(t, s, hourRow("usagePlan-b", "AKIDa", 0, c), hourRow("usagePlan-a", "AKIDa", 0, c), hourRow("usagePlan-a", "AKIDb", 0, c),
		dayRow("usagePlan-c", "AKIDa", 0, c), hourRow("usagePlan-ab", "AKIDa", 0, c))
	if p := fmt.Sprint(plans(t, s)); p != "[usagePlan-a usagePlan-ab usagePlan-b usagePlan-c]" {
		t.Fatalf("plans %s", p)
	}
	if err := s.PruneHistory(ctx, metering.Hour, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p := fmt.Sprint(plans(t, s)); p != "[usagePlan-c]" {
		t.Fatalf("plans after pruning the hourly rows: %s", p)
	}
}

// testRetentionUnderChurn: over 500 simulated days of a Recorder that
// flushes (and so prunes) once a day, while keys come and go every day
// and plans every 50 days, the store holds only rows inside the
// retention, at most what the retention allows, and lists only plans
// that still have rows: the size stays bounded by the traffic of the
// retention, not by the days elapsed or the keys ever seen.
func testRetentionUnderChurn(t *testing.T, s metering.HistoryStore) {
	keep := metering.Retention{Hour: 48 * time.Hour, Day: 10 * 24 * time.Hour}
	now := base
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }, Retention: keep})
	if err != nil {
		t.Fatal(err)
	}
	everything := func(plan string, g metering.Granularity) metering.Query {
		return metering.Query{Plan: plan, Granularity: g, From: base.AddDate(-1, 0, 0), To: base.AddDate(3, 0, 0)}
	}
	// A day: 3 keys (one kept all along, two new each day) × 4 events
	// in 4 different hours. Hourly rows kept: at most 3 days' worth (the
	// 48 hours, the day being written and the hour of rounding); daily
	// rows: 3 keys × the 10 days kept and the current one.
	const perDayHourRows, perDayDayRows = 3 * 4, 3
	bound := 3*perDayHourRows + 12*perDayDayRows
	peak := 0
	for d := range 500 {
		plan := fmt.Sprintf("usagePlan-churn%03d", d/50)
		for _, h := range []int{1, 7, 13, 19} {
			now = base.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + 5*time.Minute)
			for _, key := range []string{"AKIDsteady", fmt.Sprintf("AKIDday%03da", d), fmt.Sprintf("AKIDday%03db", d)} {
				rec.Record(plan, key, nil, metering.Counts{Requests: 1, Units: 2})
			}
		}
		now = base.AddDate(0, 0, d).Add(23*time.Hour + 30*time.Minute)
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if d%10 != 9 && d != 499 {
			continue
		}
		rows := 0
		for _, p := range plans(t, s) {
			n := 0
			for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
				limit := now.Add(-keep.Hour)
				if g == metering.Day {
					limit = now.Add(-keep.Day)
				}
				for _, r := range query(t, s, everything(p, g)) {
					if r.Start.Before(limit) {
						t.Fatalf("day %d: a %s row of %s/%s starts %v, before the retention's %v", d, g, r.Plan, r.Key, r.Start, limit)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatalf("day %d: plan %s is listed with no rows", d, p)
			}
			rows += n
		}
		peak = max(peak, rows)
		if rows > bound {
			t.Fatalf("day %d: %d rows; the retention bounds them at %d", d, rows, bound)
		}
	}
	if ps := plans(t, s); len(ps) != 1 || ps[0] != "usagePlan-churn009" {
		t.Fatalf("plans after 500 days: %q, want the last one only", ps)
	}
	// What is kept is complete: the last day's 12 hourly rows per key
	// set sum to what was recorded.
	var sum metering.Counts
	for _, r := range query(t, s, metering.Query{Plan: "usagePlan-churn009", Granularity: metering.Hour,
		From: base.AddDate(0, 0, 499), To: base.AddDate(0, 0, 500)}) {
		sum.Add(r.Counts)
	}
	if sum != (metering.Counts{Requests: 12, Units: 24}) || peak < bound/2 {
		t.Fatalf("the last day sums to %+v, want 12 requests of 2 units; peak %d rows", sum, peak)
	}
}

// onceBatch is a batch of keys (plan usagePlan-once) of hour and day
// rows, two hours and twice the day per key: more rows than one write of any store takes,
// so that a store writing in parts has several.
func onceBatch(keys int) (b metering.Batch, hourly, daily []metering.Row) {
	b.Writer, b.Seq = metering.NewWriterID(), 1
	for k := range keys {
		key := fmt.Sprintf("AKID%05d", k)
		c := metering.Counts{Requests: int64(k%7 + 1), Units: int64(k + 1), RefusedRate: 1}
		h0, h1 := hourRow("usagePlan-once", key, 0, c), hourRow("usagePlan-once", key, 1, c)
		d := dayRow("usagePlan-once", key, 0, c)
		b.Rows = append(b.Rows, h0, d, h1, d) // the day twice: a batch's rows add up
		dd := d
		dd.Counts.Add(c)
		hourly, daily = append(hourly, h0, h1), append(daily, dd)
	}
	return b, hourly, daily
}

func checkOnce(t *testing.T, s metering.HistoryStore, hourly, daily []metering.Row) {
	t.Helper()
	equal(t, query(t, s, hours("usagePlan-once", 0, 2)), hourly)
	equal(t, query(t, s, metering.Query{Plan: "usagePlan-once", Granularity: metering.Day, From: base, To: base.AddDate(0, 0, 1)}), daily)
}

// add2 writes b and checks that the store holds hourly and daily.
func add2(t *testing.T, s metering.HistoryStore, b metering.Batch, hourly, daily []metering.Row) {
	t.Helper()
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatalf("AddHistory(batch %d, %d rows): %v", b.Seq, len(b.Rows), err)
	}
	checkOnce(t, s, hourly, daily)
}

// times returns rows with their counts multiplied by n.
func times(rows []metering.Row, n int) []metering.Row {
	out := make([]metering.Row, len(rows))
	for i, r := range rows {
		out[i] = r
		for range n - 1 {
			out[i].Counts.Add(r.Counts)
		}
	}
	return out
}

// A batch written again — whole, or a prefix of it — adds nothing: its
// rows are counted once.
func testBatchAppliedOnce(t *testing.T, s metering.HistoryStore) {
	b, hourly, daily := onceBatch(1100)
	for range 2 {
		add2(t, s, b, hourly, daily)
	}
	for _, n := range []int{len(b.Rows)/2 + 1, 1} {
		prefix := b
		prefix.Rows = b.Rows[:n]
		add2(t, s, prefix, hourly, daily)
	}
}

// Writers replaying one batch at once count it once.
func testBatchReplayedConcurrently(t *testing.T, s metering.HistoryStore) {
	b, hourly, daily := onceBatch(50)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if err := s.AddHistory(ctx, b); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkOnce(t, s, hourly, daily)
}

// The same rows in the writer's next batch (a higher Seq) are another
// batch: counted again, and once however often it is replayed.
func testNewerSeqCountsAgain(t *testing.T, s metering.HistoryStore) {
	b, hourly, daily := onceBatch(1100)
	add2(t, s, b, hourly, daily)
	b.Seq = 2
	for range 2 {
		add2(t, s, b, times(hourly, 2), times(daily, 2))
	}
}

// Once the writer's batch 2 is applied, its batch 1 replayed — whole or
// a prefix — adds nothing: whether batch 1 was applied before (batch 2
// of other rows) or never (batch 2 of the same rows; a store that keeps
// its records per (plan, key) need only skip the rows of the (plan,
// key)s it applied a batch of the writer for, and these are).
func testOlderSeqAfterNewerCountsNothing(t *testing.T, s metering.HistoryStore) {
	b, hourly, daily := onceBatch(1100)
	replays := func(old metering.Batch, hourly, daily []metering.Row) {
		t.Helper()
		for _, n := range []int{len(old.Rows), len(old.Rows)/2 + 1, min(3, len(old.Rows))} {
			prefix := old
			prefix.Rows = old.Rows[:n]
			add2(t, s, prefix, hourly, daily)
		}
	}
	// Batch 1, then batch 2 of another key.
	add2(t, s, b, hourly, daily)
	other := hourRow("usagePlan-once", "AKIDother", 0, metering.Counts{Requests: 1})
	b2 := metering.Batch{Writer: b.Writer, Seq: 2, Rows: []metering.Row{other}}
	// withOther is b's hourly rows counted k times, and other's.
	withOther := func(k int) []metering.Row {
		rows := append(times(hourly, k), other)
		metering.SortRows(rows)
		return rows
	}
	add2(t, s, b2, withOther(1), daily)
	replays(b, withOther(1), daily)
	replays(b2, withOther(1), daily)
	// Another writer: its batch 2 of b's rows, and then its batch 1 of
	// the same rows.
	b.Writer = metering.NewWriterID()
	b.Seq = 2
	add2(t, s, b, withOther(2), times(daily, 2))
	b.Seq = 1
	replays(b, withOther(2), times(daily, 2))
	// Its batch 3 counts.
	b.Seq = 3
	add2(t, s, b, withOther(3), times(daily, 3))
}

// Another writer's batch of the same Seq and rows is another batch:
// counted again.
func testOtherWriterSameSeqCounts(t *testing.T, s metering.HistoryStore) {
	b, hourly, daily := onceBatch(3)
	add2(t, s, b, hourly, daily)
	b.Writer = metering.NewWriterID()
	add2(t, s, b, times(hourly, 2), times(daily, 2))
	b.Writer = b.Writer[:8] // a writer whose ID is a prefix of another's
	add2(t, s, b, times(hourly, 3), times(daily, 3))
}

func testBadBatch(t *testing.T, s metering.HistoryStore) {
	rows := []metering.Row{hourRow("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 1})}
	for _, w := range []string{"", "a b", "id\x00", "{tag}", "w/1", strings.Repeat("x", metering.MaxWriterLen+1)} {
		if err := s.AddHistory(ctx, metering.Batch{Writer: w, Seq: 1, Rows: rows}); err == nil {
			t.Errorf("batch writer %q: accepted", w)
		}
	}
	if err := s.AddHistory(ctx, metering.Batch{Writer: metering.NewWriterID(), Seq: 0, Rows: rows}); err == nil {
		t.Error("a batch of Seq 0: accepted")
	}
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), nil)
	if err := s.AddHistory(ctx, metering.Batch{Writer: strings.Repeat("x", metering.MaxWriterLen), Seq: 1, Rows: rows}); err != nil {
		t.Errorf("a batch writer of %d bytes: %v", metering.MaxWriterLen, err)
	}
	// The largest Seq is a Seq like any other.
	if err := s.AddHistory(ctx, metering.Batch{Writer: "w.1:-_", Seq: 1<<64 - 1, Rows: rows}); err != nil {
		t.Errorf("a batch of Seq 2^64-1: %v", err)
	}
	want := rows[0]
	want.Counts.Requests = 2
	equal(t, query(t, s, hours("usagePlan-a", 0, 1)), []metering.Row{want})
}
