package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

// allocated returns the bytes allocated so far (runtime.MemStats.TotalAlloc).
func allocated() uint64 {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.TotalAlloc
}

// TestHistoryPageCacheNotEvictedByAnotherCredential: each credential
// has its own page slots. A read-only credential asking
// maxHistoryPagedQueries multi-page queries of its own between two
// pages of the admin's export does not evict the export's rows: its
// next page is cut from the first read, without the row that arrived
// meanwhile.
func TestHistoryPageCacheNotEvictedByAnotherCredential(t *testing.T) {
	now := epoch
	counting := &countingHistory{}
	h, mem := historyHandlerAt(t, counting, func() time.Time { return now })
	counting.inner = mem
	page := func(id, secret string, offset int, end string) UsageHistorySet {
		t.Helper()
		body := fmt.Sprintf(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":%q,"Granularity":"HOUR","Offset":%d,"Limit":25}`, end, offset)
		set, e := describeHistoryAs(t, h, req{id: id, secret: secret, body: body, ts: now})
		wantOK(t, e)
		return set
	}
	first := page(adminID, adminSecret, 0, "2026-12-03 00:00:00")
	if first.TotalCount != 60 {
		t.Fatalf("TotalCount %d", first.TotalCount)
	}
	late := metering.Row{Plan: historyPlan, Key: "AAAA_first_key", Granularity: metering.Hour, Start: historyStart, Counts: metering.Counts{Requests: 1}}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: []metering.Row{late}}); err != nil {
		t.Fatal(err)
	}
	for i := range maxHistoryPagedQueries {
		page(readerID, readerSec, 0, fmt.Sprintf("2026-12-03 00:00:%02d", i+1))
	}
	second := page(adminID, adminSecret, 25, "2026-12-03 00:00:00")
	if second.TotalCount != first.TotalCount || counting.reads.Load() != 1+maxHistoryPagedQueries {
		t.Fatalf("the admin's export: TotalCount %d on page 1, %d on page 2 after another credential's queries (%d history reads)",
			first.TotalCount, second.TotalCount, counting.reads.Load())
	}
}

// TestHistoryTooManyRowsRefusedOnce: a query selecting more than
// MaxHistoryPageRows rows is refused RangeExceeded, with a message that
// says how to narrow it, and its next pages are refused from the kept
// refusal: three one-row pages of 300,000 rows read the history once
// and allocate less than two reads would (a page used to read and
// materialise the whole query every time). The read asks for
// MaxHistoryPageRows+1 rows and gets no more
// (TestHistoryReadIsBounded shows it on a history far larger).
func TestHistoryTooManyRowsRefusedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates the history")
	}
	mem := &metering.MemoryHistory{}
	const keysN, hours = 1000, 300
	rows := make([]metering.Row, 0, keysN*hours)
	for k := range keysN {
		for hr := range hours {
			rows = append(rows, metering.Row{Plan: historyPlan, Key: fmt.Sprintf("key_%05d", k), Granularity: metering.Hour,
				Start: historyStart.Add(time.Duration(hr) * time.Hour), Counts: metering.Counts{Requests: 1, Units: 1}})
		}
	}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	rows = nil
	counting := &countingHistory{inner: mem}
	h, _ := historyHandlerAt(t, counting, func() time.Time { return epoch })
	q, _ := metering.ParseQuery(historyPlan, nil, "HOUR", "2026-12-01 00:00:00", "2027-01-01 00:00:00")
	before := allocated()
	if _, err := mem.History(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	oneRead := allocated() - before
	before = allocated()
	for i := range 3 {
		body := fmt.Sprintf(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2027-01-01 00:00:00","Granularity":"HOUR","Offset":%d,"Limit":1}`, i)
		e := do(t, h, req{id: readerID, secret: readerSec, action: "DescribeUsageHistory", body: body}.build())
		if e.Response.Error == nil || e.Response.Error.Code != CodeRangeExceeded || !strings.Contains(e.Response.Error.Message, "narrow it by SecretIds") {
			t.Fatalf("page %d of 300,000 rows: %+v", i, e.Response.Error)
		}
	}
	pages := allocated() - before
	if n := counting.reads.Load(); n != 1 || pages > oneRead*3/2 {
		t.Fatalf("3 one-row pages: %d history reads, %d MB allocated (one read: %d MB)", n, pages>>20, oneRead>>20)
	}
	if got := counting.mostRows.Load(); got != MaxHistoryPageRows+1 {
		t.Fatalf("the history read returned %d rows, want MaxHistoryPageRows+1 = %d", got, MaxHistoryPageRows+1)
	}
	// Narrowed by SecretIds, the query is served.
	e := do(t, h, req{id: readerID, secret: readerSec, action: "DescribeUsageHistory",
		body: `{"UsagePlanId":"usagePlan-kgf82zcd","SecretIds":["key_00001"],"StartTime":"2026-12-01 00:00:00","EndTime":"2027-01-01 00:00:00","Granularity":"HOUR","Limit":1}`}.build())
	wantOK(t, e)
}

// blockingHistory answers once release is closed, counting the reads in
// flight.
type blockingHistory struct {
	inner            History
	release          chan struct{}
	mu               sync.Mutex
	inFlight, maxObs int
	started          chan struct{}
}

func (b *blockingHistory) History(ctx context.Context, q metering.Query) ([]metering.Row, error) {
	b.mu.Lock()
	b.inFlight++
	b.maxObs = max(b.maxObs, b.inFlight)
	b.mu.Unlock()
	b.started <- struct{}{}
	<-b.release
	b.mu.Lock()
	b.inFlight--
	b.mu.Unlock()
	return b.inner.History(ctx, q)
}

// TestHistoryReadsBounded: at most MaxHistoryReads requests read the
// history at once; another waits, and gives up (InternalError, no read)
// when its client hangs up.
func TestHistoryReadsBounded(t *testing.T) {
	b := &blockingHistory{release: make(chan struct{}), started: make(chan struct{}, 16)}
	h, mem := historyHandlerAt(t, b, func() time.Time { return epoch })
	b.inner = mem
	body := func(i int) string {
		return fmt.Sprintf(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-03 00:00:%02d","Granularity":"HOUR"}`, i)
	}
	var wg sync.WaitGroup
	for i := range MaxHistoryReads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req{action: "DescribeUsageHistory", body: body(i)}.build())
		}()
	}
	for range MaxHistoryReads {
		<-b.started
	}
	// A third request waits for a slot; its client hangs up.
	ctx, cancel := context.WithCancel(context.Background())
	hr := req{action: "DescribeUsageHistory", body: body(9)}.build().WithContext(ctx)
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		done <- w
	}()
	cancel()
	var e envelope
	if err := json.Unmarshal((<-done).Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Response.Error == nil || e.Response.Error.Code != CodeInternalError {
		t.Fatalf("a read waiting for a slot, its client gone: %+v", e.Response.Error)
	}
	close(b.release)
	wg.Wait()
	if b.maxObs != MaxHistoryReads {
		t.Fatalf("%d reads at once, want %d", b.maxObs, MaxHistoryReads)
	}
}

// vastHistory is a history of vastKeys keys with a row each hour of
// vastHours from historyStart, made up as it is read: reading it whole
// would take gigabytes. It answers a query with no Limit, or one
// above MaxHistoryPageRows+1, with an error, and records the largest
// Limit asked.
type vastHistory struct {
	mostLimit, unbounded atomic.Int64
}

const vastKeys, vastHours = 1_000_000, 1_000

func (v *vastHistory) History(_ context.Context, q metering.Query) ([]metering.Row, error) {
	if q.Limit <= 0 || q.Limit > MaxHistoryPageRows+1 {
		v.unbounded.Add(1)
		return nil, fmt.Errorf("vastHistory: a read of Limit %d would load up to %d rows", q.Limit, vastKeys*vastHours)
	}
	raiseTo(&v.mostLimit, int64(q.Limit))
	rows := make([]metering.Row, 0, q.Limit)
	for n := 0; len(rows) < q.Limit && n < vastKeys*vastHours; n++ {
		r := metering.Row{Plan: historyPlan, Key: fmt.Sprintf("key_%07d", n/vastHours), Granularity: metering.Hour,
			Start: historyStart.Add(time.Duration(n%vastHours) * time.Hour), Counts: metering.Counts{Requests: 1}}
		if r.Plan == q.Plan && q.Granularity == metering.Hour && !r.Start.Before(q.From) && r.Start.Before(q.To) {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// TestHistoryReadIsBounded: DescribeUsageHistory asks the history for
// at most MaxHistoryPageRows+1 rows, so a query selecting a billion
// rows is refused RangeExceeded without more than that being read (it
// used to ask for every row and refuse only once they were in memory).
func TestHistoryReadIsBounded(t *testing.T) {
	vast := &vastHistory{}
	h, _ := historyHandlerAt(t, vast, func() time.Time { return epoch })
	e := do(t, h, req{id: readerID, secret: readerSec, action: "DescribeUsageHistory",
		body: `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2027-02-01 00:00:00","Granularity":"HOUR","Limit":10}`}.build())
	if e.Response.Error == nil || e.Response.Error.Code != CodeRangeExceeded {
		t.Fatalf("a query of %d rows: %+v, want RangeExceeded", vastKeys*vastHours, e.Response.Error)
	}
	if n, most := vast.unbounded.Load(), vast.mostLimit.Load(); n != 0 || most != MaxHistoryPageRows+1 {
		t.Fatalf("history reads without a bound: %d; largest Limit asked: %d, want %d", n, most, MaxHistoryPageRows+1)
	}
}
