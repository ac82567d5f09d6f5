package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

func TestHistoryConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) metering.HistoryStore { s, _ := openTemp(t); return s })
}

var h0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// batch is rows as the first batch of a new writer.
func batch(rows ...metering.Row) metering.Batch {
	return metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}
}

func hourly(plan, key string, h int, c metering.Counts) metering.Row {
	return metering.Row{Plan: plan, Key: key, Granularity: metering.Hour, Start: h0.Add(time.Duration(h) * time.Hour), Counts: c}
}

func TestHistorySurvivesRestart(t *testing.T) {
	s, path := openTemp(t)
	rows := []metering.Row{hourly("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 3, Units: 7}), hourly("usagePlan-a", "AKIDb", 1, metering.Counts{RefusedQuota: 1})}
	b := batch(rows...)
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, limiter.Counter{Plan: "usagePlan-a", Key: "AKIDa"}, 5, 10); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatalf("reopening a file with history: %v", err)
	}
	defer s2.Close()
	// The batch is remembered across the restart: its retry adds nothing.
	if err := s2.AddHistory(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s2.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Counts != rows[0].Counts || got[1].Counts != rows[1].Counts {
		t.Fatalf("after a restart: %+v", got)
	}
}

// Open checks the history as it checks the counters: a damaged row, a
// row missing from the index or a foreign bucket is ErrCorrupt.
func TestHistoryCorruptionIsDetected(t *testing.T) {
	for name, damage := range map[string]func(hb *bolt.Bucket) error{
		"row checksum": func(hb *bolt.Bucket) error {
			b := hb.Bucket([]byte("hour"))
			k, v := b.Cursor().First()
			v = append([]byte(nil), v...)
			v[3] ^= 1
			return b.Put(append([]byte(nil), k...), v)
		},
		"row without index": func(hb *bolt.Bucket) error {
			ib := hb.Bucket([]byte("hour-by-start"))
			k, _ := ib.Cursor().First()
			return ib.Delete(append([]byte(nil), k...))
		},
		"index without row": func(hb *bolt.Bucket) error {
			return hb.Bucket([]byte("day-by-start")).Put(indexKey(rowKey("p", "k", 5)), []byte{})
		},
		"foreign bucket": func(hb *bolt.Bucket) error {
			_, err := hb.CreateBucket([]byte("week"))
			return err
		},
		"foreign value": func(hb *bolt.Bucket) error { return hb.Put([]byte("x"), []byte("y")) },
		"writer checksum": func(hb *bolt.Bucket) error {
			b := hb.Bucket(historyWriters)
			k, v := b.Cursor().First()
			v = append([]byte(nil), v...)
			v[7] ^= 1
			return b.Put(append([]byte(nil), k...), v)
		},
		"writer without index": func(hb *bolt.Bucket) error {
			ab := hb.Bucket(historyWritersByAge)
			k, _ := ab.Cursor().First()
			return ab.Delete(append([]byte(nil), k...))
		},
		"writer indexed at another time": func(hb *bolt.Bucket) error {
			ab := hb.Bucket(historyWritersByAge)
			k, _ := ab.Cursor().First()
			k = append([]byte(nil), k...)
			if err := ab.Delete(k); err != nil {
				return err
			}
			k[7] ^= 1
			return ab.Put(k, []byte{})
		},
		"index without writer": func(hb *bolt.Bucket) error {
			return hb.Bucket(historyWritersByAge).Put(writerAgeKey([]byte("x"), 5), []byte{})
		},
		"malformed writer ID": func(hb *bolt.Bucket) error {
			w := []byte("a b")
			p := writerPos{seq: 1, at: 5}
			if err := hb.Bucket(historyWriters).Put(w, encodeWriterValue(w, p)); err != nil {
				return err
			}
			return hb.Bucket(historyWritersByAge).Put(writerAgeKey(w, p.at), []byte{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(path, Config{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			rows := []metering.Row{hourly("p", "k", 0, metering.Counts{Requests: 1}), {Plan: "p", Key: "k", Granularity: metering.Day, Start: h0, Counts: metering.Counts{Requests: 1}}}
			if err := s.AddHistory(ctx, batch(rows...)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return damage(tx.Bucket(historyBucket)) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := Open(path, Config{Create: true}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open of a damaged history: %v, want ErrCorrupt", err)
			}
		})
	}
}

// With a Recorder flushing once a day over 500 simulated days, the
// file holds no more rows than the retention allows, and its size stops
// growing once the retention is reached.
func TestHistoryRetentionBounded(t *testing.T) {
	now := h0
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := Open(path, Config{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keep := metering.Retention{Hour: 48 * time.Hour, Day: 30 * 24 * time.Hour}
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }, Retention: keep})
	// The Recorder is one writer: one record, however many batches.
	if err != nil {
		t.Fatal(err)
	}
	const keys = 10
	bound := keys * (48 + 1 + 30 + 1)
	var sizeAt100 int64
	for day := range 500 {
		for h := range 24 {
			now = h0.Add(time.Duration(day*24+h)*time.Hour + time.Minute)
			for k := range keys {
				rec.Record("usagePlan-r", fmt.Sprintf("AKID%02d", k), nil, metering.Counts{Requests: 1, Units: 1})
			}
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if day%50 == 49 {
			if n := historyRowCount(t, s); n > bound {
				t.Fatalf("day %d: %d rows, retention bounds them at %d", day, n, bound)
			}
			if n := writerCount(t, s); n != 1 {
				t.Fatalf("day %d: %d writers recorded, want 1 (the Recorder)", day, n)
			}
		}
		if day == 100 {
			sizeAt100 = fileSize(t, path)
		}
	}
	if size := fileSize(t, path); size > 2*sizeAt100 {
		t.Fatalf("the file grew from %d bytes at day 100 to %d at day 500", sizeAt100, size)
	}
}

func historyRowCount(t *testing.T, s *Store) int {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"hour", "day"} {
			n += tx.Bucket(historyBucket).Bucket([]byte(name)).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writerCount(t *testing.T, s *Store) int {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(historyBucket).Bucket(historyWriters).Stats().KeyN
		if m := tx.Bucket(historyBucket).Bucket(historyWritersByAge).Stats().KeyN; m != n {
			return fmt.Errorf("%d writers, %d in their index", n, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A flush larger than one transaction is written in several; when one
// fails, the rows before it are reported written, and only they. The
// batch written again once the damage is repaired adds the rest, once.
func TestHistoryPartialWrite(t *testing.T) {
	defer func(n int) { historyWriteBatch = n }(historyWriteBatch)
	historyWriteBatch = 2
	s, path := openTemp(t)
	var rows []metering.Row
	for i := range 5 {
		rows = append(rows, hourly("usagePlan-a", fmt.Sprintf("AKID%d", i), 0, metering.Counts{Requests: 1}))
	}
	if err := s.AddHistory(ctx, batch(rows...)); err != nil {
		t.Fatal(err)
	}
	// The fourth row is damaged on disk: the second transaction fails.
	k3 := rowKey("usagePlan-a", "AKID3", h0.Unix())
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(historyBucket).Bucket([]byte("hour")).Put(k3, []byte("garbage"))
	}); err != nil {
		t.Fatal(err)
	}
	b := batch(rows...)
	err := s.AddHistory(ctx, b)
	if pw := (*metering.PartialWriteError)(nil); !errors.As(err, &pw) || pw.Written != 2 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AddHistory over a damaged row: %v, want 2 rows written and ErrCorrupt naming %s", err, path)
	}
	requests := func() []int64 {
		t.Helper()
		got, err := s.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var n []int64
		for _, r := range got {
			n = append(n, r.Requests)
		}
		return n
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(historyBucket).Bucket([]byte("hour")).Put(k3, encodeCounts(k3, metering.Counts{Requests: 1}))
	}); err != nil {
		t.Fatal(err)
	}
	if got := requests(); fmt.Sprint(got) != "[2 2 1 1 1]" {
		t.Fatalf("requests %v: want the first two written twice, the others once", got)
	}
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if got := requests(); fmt.Sprint(got) != "[2 2 2 2 2]" {
		t.Fatalf("requests after the retry %v: want each row of both batches once", got)
	}
}

// A writer is remembered for metering.BatchWindow after its last batch
// (Config.Now dating it), then forgotten and its entries deleted; each
// batch applied renews it.
func TestHistoryForgetsWritersPastTheWindow(t *testing.T) {
	now := h0
	s, err := Open(filepath.Join(t.TempDir(), "usage.db"), Config{Create: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := batch(hourly("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 1}))
	requests := func() int64 {
		t.Helper()
		got, err := s.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
		if err != nil || len(got) != 1 {
			t.Fatalf("History: %v, %v", got, err)
		}
		return got[0].Requests
	}
	add := func(b metering.Batch) {
		t.Helper()
		if err := s.AddHistory(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Each replay renews the writer's record: replays a little under a
	// window apart, for two windows, add nothing, though another
	// writer's batch before each (a write that adds rows) prunes the
	// records past the window.
	last := time.Duration(0)
	for _, at := range []time.Duration{0, time.Hour, metering.BatchWindow - time.Nanosecond, 2*metering.BatchWindow - 2*time.Nanosecond} {
		now = h0.Add(at)
		add(batch(hourly("usagePlan-n", "AKIDn", 0, metering.Counts{Requests: 1})))
		add(b)
		if n := requests(); n != 1 {
			t.Fatalf("a replay %v after the batch: %d requests, want 1", at, n)
		}
		last = at
	}
	// Another writer's batch a window after the last replay deletes the
	// record of the first writer, silent that long: its replay then
	// counts again.
	now = h0.Add(last + metering.BatchWindow)
	other := batch(hourly("usagePlan-b", "AKIDb", 0, metering.Counts{Requests: 1}))
	other.Writer = metering.NewWriterID()
	add(other)
	if n := writerCount(t, s); n != 1 {
		t.Fatalf("%d writers recorded, want 1 (the other's; the first record deleted)", n)
	}
	add(b)
	if n := requests(); n != 2 {
		t.Fatalf("a replay past metering.BatchWindow of silence: %d requests, want 2 (the writer forgotten)", n)
	}
	// Batch 2 half a day later renews the record: a day after the
	// replay, batches 1 and 2 add nothing.
	now = now.Add(metering.BatchWindow / 2)
	b2 := b
	b2.Seq = 2
	add(b2)
	now = now.Add(metering.BatchWindow/2 + time.Hour)
	add(b)
	add(b2)
	if n := requests(); n != 3 {
		t.Fatalf("replays within a day of batch 2: %d requests, want 3", n)
	}
	if n := writerCount(t, s); n != 2 {
		t.Fatalf("%d writers recorded, want 2 (the other's is deleted by the next write that adds rows)", n)
	}
}

// A file written before the writers' records, with the buckets of one
// entry per batch part ("batches", "batches-by-time"), opens; the first
// write deletes those buckets and records its writer.
func TestHistoryOpensFileWithBatchRecords(t *testing.T) {
	s, path := openTemp(t)
	row := hourly("usagePlan-a", "AKIDa", 0, metering.Counts{Requests: 1})
	if err := s.AddHistory(ctx, batch(row)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		hb := tx.Bucket(historyBucket)
		for _, name := range [][]byte{historyWriters, historyWritersByAge} {
			if err := hb.DeleteBucket(name); err != nil {
				return err
			}
		}
		// As the previous format wrote them: "<batch ID>:<i>" → time and
		// CRC, and the index by time.
		bb, err := hb.CreateBucket(legacyBatches)
		if err != nil {
			return err
		}
		ab, err := hb.CreateBucket(legacyBatchesByAge)
		if err != nil {
			return err
		}
		if err := bb.Put([]byte("0123456789abcdef0123456789abcdef:0"), make([]byte, 12)); err != nil {
			return err
		}
		return ab.Put(append(make([]byte, 8), "0123456789abcdef0123456789abcdef:0"...), []byte{})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s2, err := Open(path, Config{})
	if err != nil {
		t.Fatalf("Open of a file with the per-batch records: %v", err)
	}
	defer s2.Close()
	if err := s2.AddHistory(ctx, batch(row)); err != nil {
		t.Fatal(err)
	}
	if err := s2.db.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(historyBucket)
		if hb.Bucket(legacyBatches) != nil || hb.Bucket(legacyBatchesByAge) != nil {
			return errors.New("the per-batch buckets are still there after a write")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := writerCount(t, s2); n != 1 {
		t.Fatalf("%d writers recorded, want 1", n)
	}
	got, err := s2.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
	if err != nil || len(got) != 1 || got[0].Requests != 2 {
		t.Fatalf("History: %+v, %v; want 2 requests", got, err)
	}
}
