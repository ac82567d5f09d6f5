package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

const historyPlan = "usagePlan-kgf82zcd"

// historyStart is the first hour of the rows historyHandler holds.
var historyStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// historyHandler returns a handler (declarative: DescribeUsageHistory
// only reads) over testConfig whose history holds, for the plan's key
// and for a key since deleted, 30 hourly rows from historyStart and 2
// daily rows, and 3 hourly rows of a plan the registry no longer has.
func historyHandler(t testing.TB, hist History) (*Handler, *metering.MemoryHistory) {
	t.Helper()
	return historyHandlerAt(t, hist, func() time.Time { return epoch })
}

// historyHandlerAt is historyHandler on the clock now.
func historyHandlerAt(t testing.TB, hist History, now func() time.Time) (*Handler, *metering.MemoryHistory) {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mem := &metering.MemoryHistory{}
	var rows []metering.Row
	for _, key := range []string{"partner_key_1", "deleted_key_1"} {
		for h := range 30 {
			rows = append(rows, metering.Row{Plan: historyPlan, Key: key, Granularity: metering.Hour,
				Start: historyStart.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: int64(h + 1), Units: int64(2*h + 2), RefusedRate: 1}})
		}
		for d := range 2 {
			rows = append(rows, metering.Row{Plan: historyPlan, Key: key, Granularity: metering.Day,
				Start: historyStart.AddDate(0, 0, d), Counts: metering.Counts{Requests: 100, Units: 150, Overage: 7, RefusedQuota: 3}})
		}
	}
	for h := range 3 {
		rows = append(rows, metering.Row{Plan: "usagePlan-gone0001", Key: "partner_key_1", Granularity: metering.Hour,
			Start: historyStart.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: 1, Units: 1}})
	}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if hist == nil {
		hist = mem
	}
	h, err := New(reg, []Credential{
		{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)},
		{SecretID: readerID, SecretKey: keys.NewSecret(readerSec), ReadOnly: true},
	}, Config{Hosts: []string{testHost}, History: hist, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h, mem
}

// describeHistory calls DescribeUsageHistory with body as the
// read-only credential, and decodes the Result strictly.
func describeHistory(t *testing.T, h http.Handler, body string) (UsageHistorySet, envelope) {
	t.Helper()
	return describeHistoryAs(t, h, req{id: readerID, secret: readerSec, body: body})
}

// describeHistoryAs is describeHistory with r's credential, body and
// signing time.
func describeHistoryAs(t *testing.T, h http.Handler, r req) (UsageHistorySet, envelope) {
	t.Helper()
	r.action = "DescribeUsageHistory"
	e := do(t, h, r.build())
	var set UsageHistorySet
	if e.Response.Error == nil {
		dec := json.NewDecoder(strings.NewReader(string(e.Response.Result)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			t.Fatalf("Result %s: %v", e.Response.Result, err)
		}
	}
	return set, e
}

// DescribeUsageHistory pages through a plan's rows in the store's order
// (key, then start) with their figures and RecordIds; SecretIds selects
// keys; DAY reads the daily rows; a read-only credential may call it.
func TestDescribeUsageHistory(t *testing.T) {
	h, mem := historyHandler(t, nil)
	all, err := mem.History(context.Background(), metering.Query{Plan: historyPlan, Granularity: metering.Hour,
		From: historyStart, To: historyStart.Add(30 * time.Hour)})
	if err != nil || len(all) != 60 {
		t.Fatalf("%d rows, %v", len(all), err)
	}
	var got []UsageHistory
	for offset := 0; offset < 60; offset += 25 {
		set, e := describeHistory(t, h, fmt.Sprintf(`{"UsagePlanId":%q,"StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 06:00:00","Granularity":"HOUR","Offset":%d,"Limit":25}`, historyPlan, offset))
		wantOK(t, e)
		if set.TotalCount != 60 {
			t.Fatalf("TotalCount %d, want 60", set.TotalCount)
		}
		if want := min(25, 60-offset); len(set.UsageHistorySet) != want {
			t.Fatalf("offset %d: %d rows, want %d", offset, len(set.UsageHistorySet), want)
		}
		got = append(got, set.UsageHistorySet...)
	}
	for i, r := range all {
		want := UsageHistory{UsagePlanID: r.Plan, SecretID: r.Key, Granularity: "HOUR", StartTime: metering.FormatTime(r.Start),
			Requests: r.Requests, Units: r.Units, Overage: r.Overage, RefusedRate: r.RefusedRate, RefusedQuota: r.RefusedQuota, RecordID: r.RecordID()}
		if got[i] != want {
			t.Fatalf("row %d: %+v, want %+v", i, got[i], want)
		}
	}
	if got[0].SecretID != "deleted_key_1" || got[0].StartTime != "2026-12-01 00:00:00" || got[0].Requests != 1 {
		t.Fatalf("first row %+v", got[0])
	}

	// The default page is 20 rows; the range is [StartTime, EndTime).
	set, e := describeHistory(t, h, `{"UsagePlanId":"usagePlan-kgf82zcd","SecretIds":["partner_key_1"],"StartTime":"2026-12-01 05:00:00","EndTime":"2026-12-01 08:00:00","Granularity":"HOUR"}`)
	wantOK(t, e)
	if set.TotalCount != 3 || len(set.UsageHistorySet) != 3 || set.UsageHistorySet[0].StartTime != "2026-12-01 05:00:00" || set.UsageHistorySet[2].Requests != 8 {
		t.Fatalf("SecretIds and range: %+v", set)
	}
	set, e = describeHistory(t, h, `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-11-01 00:00:00","EndTime":"2026-12-31 00:00:00","Granularity":"HOUR"}`)
	wantOK(t, e)
	if set.TotalCount != 60 || len(set.UsageHistorySet) != 20 {
		t.Fatalf("default Limit: %d of %d rows, want 20 of 60", len(set.UsageHistorySet), set.TotalCount)
	}
	set, e = describeHistory(t, h, `{"UsagePlanId":"usagePlan-kgf82zcd","SecretIds":["partner_key_1"],"StartTime":"2026-11-01 00:00:00","EndTime":"2026-12-31 00:00:00","Granularity":"DAY"}`)
	wantOK(t, e)
	if set.TotalCount != 2 || set.UsageHistorySet[1] != (UsageHistory{UsagePlanID: historyPlan, SecretID: "partner_key_1", Granularity: "DAY", StartTime: "2026-12-02 00:00:00",
		Requests: 100, Units: 150, Overage: 7, RefusedQuota: 3, RecordID: metering.Row{Plan: historyPlan, Key: "partner_key_1", Granularity: metering.Day, Start: historyStart.AddDate(0, 0, 1)}.RecordID()}) {
		t.Fatalf("DAY: %+v", set)
	}
	// A range with no rows, and an Offset past the end, are empty sets.
	for _, body := range []string{
		`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2025-01-01 00:00:00","EndTime":"2025-01-02 00:00:00","Granularity":"DAY"}`,
		`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR","Offset":1000}`,
	} {
		set, e = describeHistory(t, h, body)
		wantOK(t, e)
		if len(set.UsageHistorySet) != 0 || !strings.Contains(string(e.Response.Result), `"UsageHistorySet":[]`) {
			t.Fatalf("%s: %s", body, e.Response.Result)
		}
	}
	// A plan deleted from the registry is answered while it has rows.
	set, e = describeHistory(t, h, `{"UsagePlanId":"usagePlan-gone0001","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`)
	wantOK(t, e)
	if set.TotalCount != 3 {
		t.Fatalf("deleted plan: %+v", set)
	}
}

// failingHistory fails every read, with a message that must not reach
// the client.
type failingHistory struct{}

func (failingHistory) History(context.Context, metering.Query) ([]metering.Row, error) {
	return nil, errors.New("redis: connection refused at 10.0.0.7:6379")
}

func TestDescribeUsageHistoryRefusals(t *testing.T) {
	h, _ := historyHandler(t, nil)
	const ok = `"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00"`
	for _, tc := range []struct {
		name, body, code string
	}{
		{"no plan", `{"StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeMissingParameter},
		{"empty plan", `{"UsagePlanId":"","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeMissingParameter},
		{"unknown plan", `{"UsagePlanId":"usagePlan-nope0000","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeInvalidUsagePlan},
		{"deleted plan outside its rows", `{"UsagePlanId":"usagePlan-gone0001","StartTime":"2026-12-05 00:00:00","EndTime":"2026-12-06 00:00:00","Granularity":"HOUR"}`, CodeInvalidUsagePlan},
		{"no StartTime", `{"UsagePlanId":"usagePlan-kgf82zcd","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeMissingParameter},
		{"no EndTime", `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeMissingParameter},
		{"no Granularity", `{` + ok + `}`, CodeMissingParameter},
		{"RFC 3339 time", `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01T00:00:00Z","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeInvalidParameterValue},
		{"date only", `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeInvalidParameterValue},
		{"end before start", `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-02 00:00:00","EndTime":"2026-12-01 00:00:00","Granularity":"HOUR"}`, CodeInvalidParameterValue},
		{"empty range", `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-02 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`, CodeInvalidParameterValue},
		{"lowercase granularity", `{` + ok + `,"Granularity":"hour"}`, CodeInvalidParameterValue},
		{"MINUTE", `{` + ok + `,"Granularity":"MINUTE"}`, CodeInvalidParameterValue},
		{"Limit 0", `{` + ok + `,"Granularity":"HOUR","Limit":0}`, CodeRangeExceeded},
		{"Limit 101", `{` + ok + `,"Granularity":"HOUR","Limit":101}`, CodeRangeExceeded},
		{"Offset -1", `{` + ok + `,"Granularity":"HOUR","Offset":-1}`, CodeRangeExceeded},
		{"Limit as a string", `{` + ok + `,"Granularity":"HOUR","Limit":"20"}`, CodeInvalidParameterFormat},
		{"SecretIds as a string", `{` + ok + `,"Granularity":"HOUR","SecretIds":"partner_key_1"}`, CodeInvalidParameterFormat},
		{"an empty SecretId", `{` + ok + `,"Granularity":"HOUR","SecretIds":[""]}`, CodeInvalidAccessKeyIDs},
		{"a SecretId twice", `{` + ok + `,"Granularity":"HOUR","SecretIds":["partner_key_1","partner_key_1"]}`, CodeInvalidAccessKeyIDs},
		{"a SecretId with a slash", `{` + ok + `,"Granularity":"HOUR","SecretIds":["a/b"]}`, CodeInvalidAccessKeyIDs},
		{"too many SecretIds", `{` + ok + `,"Granularity":"HOUR","SecretIds":["k` + strings.Repeat(`","k`, MaxHistorySecretIDs) + `"]}`, CodeInvalidAccessKeyIDs},
		{"unknown parameter", `{` + ok + `,"Granularity":"HOUR","Region":"ap-guangzhou"}`, CodeUnknownParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := describeHistory(t, h, tc.body)
			wantCode(t, e, tc.code)
		})
	}

	t.Run("no history configured", func(t *testing.T) {
		h, _ := newHandler(t, Managed)
		_, e := describeHistory(t, h, `{`+ok+`,"Granularity":"HOUR"}`)
		wantCode(t, e, CodeUnsupportedOperation)
	})
	t.Run("the history fails", func(t *testing.T) {
		h, _ := historyHandler(t, failingHistory{})
		_, e := describeHistory(t, h, `{`+ok+`,"Granularity":"HOUR"}`)
		wantCode(t, e, CodeInternalError)
		if strings.Contains(e.Response.Error.Message, "10.0.0.7") {
			t.Fatalf("the message shows the store's error: %s", e.Response.Error.Message)
		}
	})
}

// A Recorder is a History: DescribeUsageHistory reads what it has not
// written to its store yet.
func TestDescribeUsageHistoryFromRecorder(t *testing.T) {
	at := historyStart.Add(90 * time.Minute)
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	rec.Record(historyPlan, "partner_key_1", nil, metering.Counts{Requests: 4, Units: 9, Overage: 1})
	h, _ := historyHandler(t, rec)
	set, e := describeHistory(t, h, `{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR"}`)
	wantOK(t, e)
	if set.TotalCount != 1 || set.UsageHistorySet[0].StartTime != "2026-12-01 01:00:00" || set.UsageHistorySet[0].Units != 9 || set.UsageHistorySet[0].Overage != 1 {
		t.Fatalf("%+v", set)
	}
}

// countingHistory counts the reads of a History and records the most
// rows one returned.
type countingHistory struct {
	inner    History
	reads    atomic.Int64
	mostRows atomic.Int64
}

func (c *countingHistory) History(ctx context.Context, q metering.Query) ([]metering.Row, error) {
	c.reads.Add(1)
	rows, err := c.inner.History(ctx, q)
	raiseTo(&c.mostRows, int64(len(rows)))
	return rows, err
}

// raiseTo sets a to v if v is larger.
func raiseTo(a *atomic.Int64, v int64) {
	for n := a.Load(); v > n && !a.CompareAndSwap(n, v); n = a.Load() {
	}
}

// Paging through a query reads the history once: the next pages of the
// same query by the same credential within HistoryPageTTL are cut from
// the rows the first page read, so they stay consistent while new rows
// arrive; another credential, another query, a single-page answer, or
// the TTL past, read again.
func TestDescribeUsageHistoryPagesReadOnce(t *testing.T) {
	now := epoch
	counting := &countingHistory{}
	h, mem := historyHandlerAt(t, counting, func() time.Time { return now })
	counting.inner = mem
	signed := 0 // each request signed a second earlier: a signature is served once
	page := func(id, secret string, offset int, extra string) UsageHistorySet {
		t.Helper()
		body := fmt.Sprintf(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-03 00:00:00","Granularity":"HOUR","Offset":%d,"Limit":25%s}`, offset, extra)
		signed++
		set, e := describeHistoryAs(t, h, req{id: id, secret: secret, body: body, ts: now.Add(-time.Duration(signed) * time.Second)})
		wantOK(t, e)
		return set
	}
	reads := func(want int64) {
		t.Helper()
		if got := counting.reads.Load(); got != want {
			t.Fatalf("%d reads of the history, want %d", got, want)
		}
	}
	first := page(adminID, adminSecret, 0, "")
	reads(1)
	// A row arrives between the pages: the pages do not see it.
	late := metering.Row{Plan: historyPlan, Key: "AAAA_first_key", Granularity: metering.Hour, Start: historyStart, Counts: metering.Counts{Requests: 1}}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: []metering.Row{late}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(HistoryPageTTL - time.Second)
	all := first.UsageHistorySet
	for offset := 25; offset < first.TotalCount; offset += 25 {
		set := page(adminID, adminSecret, offset, "")
		if set.TotalCount != 60 {
			t.Fatalf("TotalCount %d on a later page, want 60", set.TotalCount)
		}
		all = append(all, set.UsageHistorySet...)
	}
	reads(1)
	if len(all) != 60 || all[0].SecretID != "deleted_key_1" {
		t.Fatalf("%d rows, first %+v", len(all), all[0])
	}
	// Another credential reads again (and sees the new row).
	if set := page(readerID, readerSec, 25, ""); set.TotalCount != 61 {
		t.Fatalf("another credential: TotalCount %d, want 61", set.TotalCount)
	}
	reads(2)
	// Another query (SecretIds) reads again.
	page(adminID, adminSecret, 0, `,"SecretIds":["partner_key_1"]`)
	reads(3)
	// The TTL after its last later page, the first query reads again.
	now = now.Add(HistoryPageTTL)
	if set := page(adminID, adminSecret, 25, ""); set.TotalCount != 61 {
		t.Fatalf("after the TTL: TotalCount %d, want 61", set.TotalCount)
	}
	reads(4)
	// A last page is not kept: asking for it again reads again.
	page(adminID, adminSecret, 50, "")
	reads(4) // kept by the page before
	now = now.Add(HistoryPageTTL)
	page(adminID, adminSecret, 50, "")
	page(adminID, adminSecret, 50, "")
	reads(6)
}

// An export that pages slowly stays consistent: each later page keeps
// the query's rows another HistoryPageTTL, so an export longer than the
// TTL whose pages come less than the TTL apart reads the history once.
func TestDescribeUsageHistorySlowExportReadsOnce(t *testing.T) {
	now := epoch
	counting := &countingHistory{}
	h, mem := historyHandlerAt(t, counting, func() time.Time { return now })
	counting.inner = mem
	signed := 0
	page := func(offset int) UsageHistorySet {
		t.Helper()
		body := fmt.Sprintf(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-03 00:00:00","Granularity":"HOUR","Offset":%d,"Limit":10}`, offset)
		signed++
		set, e := describeHistoryAs(t, h, req{id: adminID, secret: adminSecret, body: body, ts: now.Add(-time.Duration(signed) * time.Second)})
		wantOK(t, e)
		return set
	}
	first := page(0)
	late := metering.Row{Plan: historyPlan, Key: "AAAA_first_key", Granularity: metering.Hour, Start: historyStart, Counts: metering.Counts{Requests: 1}}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: []metering.Row{late}}); err != nil {
		t.Fatal(err)
	}
	for offset := 10; offset < first.TotalCount; offset += 10 {
		now = now.Add(HistoryPageTTL - time.Second) // the export outlives the TTL
		if set := page(offset); set.TotalCount != first.TotalCount {
			t.Fatalf("page at %d: TotalCount %d, want %d: the rows shifted under the export", offset, set.TotalCount, first.TotalCount)
		}
	}
	if got := counting.reads.Load(); got != 1 {
		t.Fatalf("%d reads of the history, want 1", got)
	}
	// Once the pages stop for the TTL, the query reads afresh.
	now = now.Add(HistoryPageTTL)
	if set := page(10); set.TotalCount != first.TotalCount+1 {
		t.Fatalf("after the TTL: TotalCount %d, want %d", set.TotalCount, first.TotalCount+1)
	}
	if got := counting.reads.Load(); got != 2 {
		t.Fatalf("%d reads of the history, want 2", got)
	}
	// Pages kept coming: the rows are read again HistoryExportMaxAge
	// after they were, and a first page never extends them.
	read := now
	for now.Sub(read) < HistoryExportMaxAge-HistoryPageTTL {
		now = now.Add(HistoryPageTTL - time.Second)
		page(20)
	}
	page(0)
	if got := counting.reads.Load(); got != 2 {
		t.Fatalf("%d reads of the history within HistoryExportMaxAge, want 2", got)
	}
	now = read.Add(HistoryExportMaxAge)
	page(20)
	if got := counting.reads.Load(); got != 3 {
		t.Fatalf("%d reads of the history, want 3: the rows outlived HistoryExportMaxAge", got)
	}
	now = now.Add(HistoryPageTTL - time.Second)
	page(0)
	now = now.Add(2 * time.Second) // the TTL after the page that read, the first page did not extend it
	page(0)
	if got := counting.reads.Load(); got != 4 {
		t.Fatalf("%d reads of the history, want 4: a first page extended the rows", got)
	}
}

// knownCodes are the codes DescribeUsageHistory may answer once the
// request is authenticated.
var knownCodes = map[string]bool{
	CodeMissingParameter: true, CodeUnknownParameter: true, CodeInvalidParameterFormat: true,
	CodeInvalidParameterValue: true, CodeRangeExceeded: true, CodeInvalidAccessKeyIDs: true,
	CodeInvalidUsagePlan: true,
}

// FuzzDescribeUsageHistory: whatever the parameters, a signed
// DescribeUsageHistory answers HTTP 200 with the envelope, never
// panics, refuses with one of the action's codes and a message, and
// what it answers is a page of at most Limit rows of the plan asked,
// within the range, never more than TotalCount.
func FuzzDescribeUsageHistory(f *testing.F) {
	h, _ := historyHandler(f, nil)
	f.Add(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 06:00:00","Granularity":"HOUR","Offset":7,"Limit":100}`)
	f.Add(`{"UsagePlanId":"usagePlan-kgf82zcd","SecretIds":["partner_key_1","deleted_key_1"],"StartTime":"2026-11-01 00:00:00","EndTime":"2026-12-31 00:00:00","Granularity":"DAY"}`)
	f.Add(`{"UsagePlanId":"usagePlan-gone0001","StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-01 02:00:00","Granularity":"HOUR","Limit":1}`)
	f.Add(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"9999-12-31 23:59:59","EndTime":"0000-01-01 00:00:00","Granularity":"DAY","Offset":9223372036854775807}`)
	f.Add(`{"UsagePlanId":null,"SecretIds":[null],"StartTime":1,"Granularity":["HOUR"],"Limit":1e400}`)
	f.Add(`{"UsagePlanId":"usagePlan-kgf82zcd","StartTime":"2026-02-29 00:00:00","EndTime":"2026-12-01 24:00:00","Granularity":"HOUR"}`)
	f.Add(`[]`)
	f.Add(`{"UsagePlanId":"\u0000\ud800","Offset":-9223372036854775808}`)
	f.Fuzz(func(t *testing.T, body string) {
		hr := req{id: readerID, secret: readerSec, action: "DescribeUsageHistory", body: body}.build()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		var e envelope
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Response.RequestId == "" {
			t.Fatalf("not the envelope: %s", w.Body.Bytes())
		}
		if e.Response.Error != nil {
			if !knownCodes[e.Response.Error.Code] || e.Response.Error.Message == "" {
				t.Fatalf("refused with %+v", *e.Response.Error)
			}
			return
		}
		var p struct {
			UsagePlanId, StartTime, EndTime string
			Limit                           *int64
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("answered a body that is not an object of parameters: %q", body)
		}
		var set UsageHistorySet
		if err := json.Unmarshal(e.Response.Result, &set); err != nil {
			t.Fatal(err)
		}
		limit := int64(usageplan.DefaultLimit)
		if p.Limit != nil {
			limit = *p.Limit
		}
		if int64(len(set.UsageHistorySet)) > limit || len(set.UsageHistorySet) > set.TotalCount {
			t.Fatalf("%d rows of %d, Limit %d", len(set.UsageHistorySet), set.TotalCount, limit)
		}
		for _, r := range set.UsageHistorySet {
			if r.UsagePlanID != p.UsagePlanId || r.StartTime < p.StartTime || r.StartTime >= p.EndTime {
				t.Fatalf("row %+v answers %s [%s, %s)", r, p.UsagePlanId, p.StartTime, p.EndTime)
			}
		}
	})
}

// BenchmarkDescribeUsageHistoryExport pages through a day of hourly
// rows of 1,000 keys (24,000 rows, 240 pages of 100), as the export
// command does, through ServeHTTP: with the rows kept between pages
// (kept), and, as the baseline, with the clock moved past
// HistoryPageTTL before every page so that each page reads the
// history again (read-per-page). One op is the whole export.
func BenchmarkDescribeUsageHistoryExport(b *testing.B) {
	mem := &metering.MemoryHistory{}
	var rows []metering.Row
	for k := range 1000 {
		for hr := range 24 {
			rows = append(rows, metering.Row{Plan: historyPlan, Key: fmt.Sprintf("AKID%06d", k), Granularity: metering.Hour,
				Start: historyStart.Add(time.Duration(hr) * time.Hour), Counts: metering.Counts{Requests: 1, Units: 1}})
		}
	}
	if err := mem.AddHistory(context.Background(), metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"kept", "read-per-page"} {
		b.Run(mode, func(b *testing.B) {
			now := epoch
			counting := &countingHistory{inner: mem}
			h, _ := historyHandlerAt(b, counting, func() time.Time { return now })
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(HistoryPageTTL) // a new export
				for offset := 0; offset < len(rows); offset += 100 {
					if mode == "read-per-page" {
						now = now.Add(HistoryPageTTL)
					}
					body := fmt.Sprintf(`{"UsagePlanId":%q,"StartTime":"2026-12-01 00:00:00","EndTime":"2026-12-02 00:00:00","Granularity":"HOUR","Offset":%d,"Limit":100}`, historyPlan, offset)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req{action: "DescribeUsageHistory", body: body, ts: now}.build())
					if !strings.Contains(w.Body.String(), `"TotalCount":24000`) {
						b.Fatalf("page at %d: %.200s", offset, w.Body.String())
					}
				}
			}
			b.ReportMetric(float64(counting.reads.Load())/float64(b.N), "reads/export")
		})
	}
}
