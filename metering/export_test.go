package metering_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

var exportRows = []metering.Row{
	{Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), Counts: metering.Counts{Requests: 3, Units: 30, Overage: 5, RefusedRate: 1, RefusedQuota: 2}},
	{Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Day, Start: time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), Counts: metering.Counts{Requests: 3, Units: 30}},
}

func TestExportCSV(t *testing.T) {
	var b bytes.Buffer
	if err := metering.Export(&b, metering.CSV, exportRows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		metering.Columns,
		{exportRows[0].RecordID(), "usagePlan-a", "AKIDa", "HOUR", "2026-03-08 07:00:00", "3", "30", "5", "1", "2"},
		{exportRows[1].RecordID(), "usagePlan-a", "AKIDa", "DAY", "2026-03-08 05:00:00", "3", "30", "0", "0", "0"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i := range want {
		if strings.Join(recs[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("line %d: %q, want %q", i, recs[i], want[i])
		}
	}
	// No rows: the header alone.
	b.Reset()
	if err := metering.Export(&b, metering.CSV, nil); err != nil || b.String() != strings.Join(metering.Columns, ",")+"\n" {
		t.Fatalf("empty export: %q, %v", b.String(), err)
	}
}

func TestExportJSONLines(t *testing.T) {
	var b bytes.Buffer
	if err := metering.Export(&b, metering.JSONLines, exportRows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(metering.Columns) {
		t.Fatalf("fields %v, want %v", got, metering.Columns)
	}
	for _, c := range metering.Columns {
		if _, ok := got[c]; !ok {
			t.Fatalf("no field %s in %s", c, lines[0])
		}
	}
	if got["RecordId"] != exportRows[0].RecordID() || got["StartTime"] != "2026-03-08 07:00:00" || got["Units"] != 30.0 || got["Granularity"] != "HOUR" {
		t.Fatalf("line %s", lines[0])
	}
}

// RecordID depends on the plan, key, granularity and start only, and
// tells them apart.
func TestRecordIDStable(t *testing.T) {
	r := exportRows[0]
	// A fixed vector: the ID must not change between builds, or an
	// import keyed on it would count the same hour twice.
	id := r.RecordID()
	if want := "fc188544cfabc30267cf903073176809"; id != want {
		t.Fatalf("RecordID = %s, want %s", id, want)
	}
	other := r
	other.Counts = metering.Counts{Requests: 99}
	other.Start = r.Start.In(time.FixedZone("x", 3600))
	if other.RecordID() != id {
		t.Fatal("RecordID depends on the counts or the Start's location")
	}
	seen := map[string]string{id: "base"}
	for name, v := range map[string]metering.Row{
		"plan":        {Plan: "usagePlan-b", Key: r.Key, Granularity: r.Granularity, Start: r.Start},
		"key":         {Plan: r.Plan, Key: "AKIDb", Granularity: r.Granularity, Start: r.Start},
		"granularity": {Plan: r.Plan, Key: r.Key, Granularity: metering.Day, Start: r.Start},
		"start":       {Plan: r.Plan, Key: r.Key, Granularity: r.Granularity, Start: r.Start.Add(time.Hour)},
		"boundary":    {Plan: r.Plan + "A", Key: r.Key[1:], Granularity: r.Granularity, Start: r.Start},
	} {
		if prev, dup := seen[v.RecordID()]; dup {
			t.Errorf("%s: same RecordID as %s", name, prev)
		}
		seen[v.RecordID()] = name
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("usagePlan-a", "HOUR", "2026-03-08 00:00:00", "2026-03-09 00:00:00", "csv")
	f.Add("usagePlan-a", "day", "2026-03-08 00:00:00", "2026-03-08 00:00:00", "jsonl")
	f.Add("", "WEEK", "2026-3-8 0:00:00", "2026-03-08T00:00:00Z", "xml")
	f.Add("p", "Hour", "2026-03-08 00:00:00.5", "9999-12-31 23:59:59", "")
	f.Fuzz(func(t *testing.T, plan, granularity, from, to, format string) {
		q, err := metering.ParseQuery(plan, nil, granularity, from, to)
		if err == nil {
			if q.Check() != nil || metering.FormatTime(q.From) != from || metering.FormatTime(q.To) != to || q.Plan != plan {
				t.Fatalf("ParseQuery(%q, %q, %q, %q) = %+v: does not read back", plan, granularity, from, to, q)
			}
			if g, _ := metering.ParseGranularity(q.Granularity.String()); g != q.Granularity {
				t.Fatalf("granularity %v does not read back", q.Granularity)
			}
		}
		f, err := metering.ParseFormat(format)
		if err != nil {
			return
		}
		row := metering.Row{Plan: plan, Key: granularity, Granularity: metering.Hour, Start: time.Unix(0, 0)}
		var b bytes.Buffer
		if err := metering.Export(&b, f, []metering.Row{row}); err != nil {
			t.Fatal(err)
		}
		if f == metering.CSV {
			recs, err := csv.NewReader(&b).ReadAll()
			crlf := strings.NewReplacer("\r\n", "\n") // a quoted field's CRLF reads as LF
			if err != nil || len(recs) != 2 || recs[1][1] != crlf.Replace(plan) || recs[1][2] != crlf.Replace(granularity) {
				t.Fatalf("CSV of plan %q key %q does not read back: %q, %v", plan, granularity, recs, err)
			}
		}
	})
}
