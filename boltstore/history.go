package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/metering"
)

var _ metering.HistoryStore = (*Store)(nil)

// The usage history lives in historyBucket, created by the first
// AddHistory, which holds per granularity a bucket of rows and a bucket
// indexing them by start (for pruning):
//
//	rows   key:   len(plan) uint16 | plan | len(key) uint16 | key | start uint64 (sign bit flipped)
//	       value: requests, units, overage, refused rate, refused quota (uint64 each) | CRC-32C of key and counts (uint32)
//	index  key:   start uint64 (sign bit flipped) | the row's key up to its start; empty value
//
// All integers are big-endian; start is in Unix seconds. A (plan, key)'s
// rows are one range ordered by start, so a query is a seek and a scan
// per key; pruning walks the index from its beginning.
//
// Two more buckets record, per writer of batches (metering.Batch), the
// last part applied, so that a retry adds nothing twice and an older
// batch adds nothing:
//
//	writers          key: the writer ID; value: seq uint64 | part uint32 | applied at uint64 (Unix ns, sign bit flipped) | CRC-32C of key and the rest (uint32)
//	writers-by-time  key: applied at uint64 (sign bit flipped) | the writer ID; empty value
//
// A part applied moves its writer's entry in writers-by-time to its own
// time. Each write deletes the writers last applied more than
// metering.BatchWindow ago (up to writerPruneMax at a time), oldest
// first.
//
// Files written by the development version before the writers' records
// have two buckets "batches" and "batches-by-time" of one entry per batch
// part instead; Open accepts them, and the first AddHistory deletes them
// (their entries name batches no writer sends again).
var (
	historyBucket       = []byte("history")
	historyRows         = map[metering.Granularity][]byte{metering.Hour: []byte("hour"), metering.Day: []byte("day")}
	historyIndex        = map[metering.Granularity][]byte{metering.Hour: []byte("hour-by-start"), metering.Day: []byte("day-by-start")}
	historyWriters      = []byte("writers")
	historyWritersByAge = []byte("writers-by-time")
	// The buckets of the per-batch records, deleted on the first write.
	legacyBatches      = []byte("batches")
	legacyBatchesByAge = []byte("batches-by-time")
)

// writerPruneMax bounds the expired writer entries one write deletes:
// a write past a long pause does not delete them all at once.
const writerPruneMax = 1000

// writerPos is a writer's last part applied: batch seq, part part, at
// at (Unix ns).
type writerPos struct {
	seq  uint64
	part uint32
	at   int64
}

// covers reports whether the part (seq, part) is at or before p: applied
// already, or older than what was.
func (p writerPos) covers(seq uint64, part uint32) bool {
	return seq < p.seq || seq == p.seq && part <= p.part
}

const writerValueLen = 8 + 4 + 8 + 4

func encodeWriterValue(k []byte, p writerPos) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, writerValueLen), p.seq)
	v = binary.BigEndian.AppendUint32(v, p.part)
	v = binary.BigEndian.AppendUint64(v, uint64(p.at)^(1<<63))
	return binary.BigEndian.AppendUint32(v, crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v))
}

func decodeWriterValue(k, v []byte) (p writerPos, ok bool) {
	if len(v) != writerValueLen || binary.BigEndian.Uint32(v[20:]) != crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v[:20]) {
		return writerPos{}, false
	}
	return writerPos{
		seq:  binary.BigEndian.Uint64(v),
		part: binary.BigEndian.Uint32(v[8:]),
		at:   int64(binary.BigEndian.Uint64(v[12:]) ^ (1 << 63)),
	}, true
}

// putWriter records p as writer w's last part applied, in place of old
// (the zero writerPos when w had none).
func putWriter(wb, ab *bolt.Bucket, w []byte, old, p writerPos) error {
	if old != (writerPos{}) {
		if err := ab.Delete(writerAgeKey(w, old.at)); err != nil {
			return err
		}
	}
	if err := wb.Put(w, encodeWriterValue(w, p)); err != nil {
		return err
	}
	return ab.Put(writerAgeKey(w, p.at), []byte{})
}

// writerAgeKey is w's entry in writers-by-time, applied at at.
func writerAgeKey(w []byte, at int64) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(w)), uint64(at)^(1<<63)), w...)
}

const historyValueLen = 5*8 + 4

// errBadRow is wrapped with ErrCorrupt by the callers.
var errBadRow = errors.New("a history row fails its checksum")

func rowPrefix(b []byte, plan, key string) []byte {
	b = binary.BigEndian.AppendUint16(planPrefix(b, plan), uint16(len(key)))
	return append(b, key...)
}

func rowKey(plan, key string, start int64) []byte {
	b := rowPrefix(make([]byte, 0, 2+len(plan)+2+len(key)+8), plan, key)
	return binary.BigEndian.AppendUint64(b, uint64(start)^(1<<63))
}

// decodeRowKey returns the plan, key and start of a row key.
func decodeRowKey(k []byte) (plan, key string, start int64, ok bool) {
	if len(k) < 2 {
		return "", "", 0, false
	}
	pl := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+pl+2 {
		return "", "", 0, false
	}
	kl := int(binary.BigEndian.Uint16(k[2+pl:]))
	if len(k) != 2+pl+2+kl+8 {
		return "", "", 0, false
	}
	start = int64(binary.BigEndian.Uint64(k[2+pl+2+kl:]) ^ (1 << 63))
	return string(k[2 : 2+pl]), string(k[2+pl+2 : 2+pl+2+kl]), start, true
}

// indexKey is the index entry of the row key k: its start first.
func indexKey(k []byte) []byte {
	n := len(k) - 8
	return append(append(make([]byte, 0, len(k)), k[n:]...), k[:n]...)
}

// rowKeyOf is the row key of the index entry ik.
func rowKeyOf(ik []byte) []byte {
	return append(append(make([]byte, 0, len(ik)), ik[8:]...), ik[:8]...)
}

func encodeCounts(k []byte, c metering.Counts) []byte {
	v := make([]byte, 0, historyValueLen)
	for _, n := range []int64{c.Requests, c.Units, c.Overage, c.RefusedRate, c.RefusedQuota} {
		v = binary.BigEndian.AppendUint64(v, uint64(n))
	}
	return binary.BigEndian.AppendUint32(v, crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v))
}

func decodeCounts(k, v []byte) (metering.Counts, error) {
	if v == nil {
		return metering.Counts{}, nil
	}
	if len(v) != historyValueLen || binary.BigEndian.Uint32(v[40:]) != crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v[:40]) {
		return metering.Counts{}, errBadRow
	}
	n := func(i int) int64 { return int64(binary.BigEndian.Uint64(v[8*i:])) }
	return metering.Counts{Requests: n(0), Units: n(1), Overage: n(2), RefusedRate: n(3), RefusedQuota: n(4)}, nil
}

// historyWriteBatch bounds the rows of one transaction, so that a flush
// of many keys does not hold all its pages in memory at once.
var historyWriteBatch = 10_000

// AddHistory implements metering.HistoryStore: a transaction per
// historyWriteBatch rows (one for up to 5,000 keys' hour and day rows),
// on disk when it returns. Part i of the batch (rows
// i×historyWriteBatch onwards) is applied only when (b.Seq, i) is past
// the last part recorded for b.Writer, and recorded in its place with
// its rows, all or nothing (Config.Now dates it): a retry of the batch
// adds only the parts not added, and an older batch adds nothing. When
// one fails, the rows of the transactions before it were added and the
// error is a metering.PartialWriteError saying how many.
func (s *Store) AddHistory(_ context.Context, b metering.Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	for _, r := range b.Rows {
		if len(r.Plan) > math.MaxUint16 || len(r.Key) > math.MaxUint16 || 2+len(r.Plan)+2+len(r.Key)+8 > bolt.MaxKeySize {
			return errors.New("boltstore: plan and key IDs too long")
		}
	}
	written, part := 0, uint32(0)
	for chunk := range slices.Chunk(b.Rows, historyWriteBatch) {
		at := s.now().UnixNano()
		pos := writerPos{seq: b.Seq, part: part, at: at}
		if err := s.wrapHistory(s.db.Update(func(tx *bolt.Tx) error { return addRows(tx, []byte(b.Writer), pos, chunk) })); err != nil {
			if written > 0 {
				return &metering.PartialWriteError{Written: written, Err: err}
			}
			return err
		}
		written += len(chunk)
		part++
	}
	return nil
}

// addRows adds rows, the part pos of a batch of writer w, unless w's
// record covers it, and records pos for w.
func addRows(tx *bolt.Tx, w []byte, pos writerPos, rows []metering.Row) error {
	hb, err := tx.CreateBucketIfNotExists(historyBucket)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{legacyBatches, legacyBatchesByAge} {
		if hb.Bucket(name) != nil {
			if err := hb.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	wb, err := hb.CreateBucketIfNotExists(historyWriters)
	if err != nil {
		return err
	}
	ab, err := hb.CreateBucketIfNotExists(historyWritersByAge)
	if err != nil {
		return err
	}
	last, found := writerPos{}, false
	if v := wb.Get(w); v != nil {
		var ok bool
		if last, ok = decodeWriterValue(w, v); !ok {
			return errBadRow
		}
		found = true
	}
	if found && last.covers(pos.seq, pos.part) {
		// Applied, or older than what was: only renew the record, so
		// that a writer still retrying keeps it while it retries.
		return putWriter(wb, ab, w, last, writerPos{last.seq, last.part, max(last.at, pos.at)})
	}
	if err := putWriter(wb, ab, w, last, pos); err != nil {
		return err
	}
	// Other writers' records past the window go; this one's is fresh.
	if err := pruneWriters(wb, ab, pos.at-int64(metering.BatchWindow)); err != nil {
		return err
	}
	for _, r := range rows {
		b, err := hb.CreateBucketIfNotExists(historyRows[r.Granularity])
		if err != nil {
			return err
		}
		ib, err := hb.CreateBucketIfNotExists(historyIndex[r.Granularity])
		if err != nil {
			return err
		}
		k := rowKey(r.Plan, r.Key, r.Start.Unix())
		old := b.Get(k)
		c, err := decodeCounts(k, old)
		if err != nil {
			return err
		}
		c.Add(r.Counts)
		if err := b.Put(k, encodeCounts(k, c)); err != nil {
			return err
		}
		if old == nil {
			if err := ib.Put(indexKey(k), []byte{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// pruneWriters deletes up to writerPruneMax writer entries last applied
// at or before `until` (Unix ns), oldest first.
func pruneWriters(wb, ab *bolt.Bucket, until int64) error {
	end := binary.BigEndian.AppendUint64(nil, uint64(until)^(1<<63))
	var old [][]byte
	cur := ab.Cursor()
	for k, _ := cur.First(); k != nil && len(old) < writerPruneMax; k, _ = cur.Next() {
		if len(k) <= 8 {
			return errBadRow
		}
		if bytes.Compare(k[:8], end) > 0 {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := wb.Delete(k[8:]); err != nil {
			return err
		}
		if err := ab.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// History implements metering.HistoryStore: a seek and a scan per key,
// in the keys' order as strings (the order of SortRows), stopping once
// q.Limit rows are read. Row keys order a plan's keys by length first,
// so without q.Keys the plan's key IDs are listed (a seek per key) and
// sorted before any row is read.
func (s *Store) History(_ context.Context, q metering.Query) ([]metering.Row, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	var out []metering.Row
	from, to := q.From.Unix(), q.To.Unix()
	full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	err := s.db.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(historyBucket)
		if hb == nil {
			return nil
		}
		b := hb.Bucket(historyRows[q.Granularity])
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		keys := slices.Clone(q.Keys)
		if len(keys) == 0 {
			var err error
			if keys, err = planKeys(cur, q.Plan); err != nil {
				return err
			}
		}
		slices.Sort(keys)
		for _, key := range slices.Compact(keys) {
			prefix := rowPrefix(nil, q.Plan, key)
			k, v := cur.Seek(binary.BigEndian.AppendUint64(slices.Clip(prefix), uint64(from)^(1<<63)))
			for ; !full() && k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = cur.Next() {
				plan, key, start, ok := decodeRowKey(k)
				if !ok || plan != q.Plan {
					return errBadRow
				}
				if start >= to {
					break
				}
				c, err := decodeCounts(k, v)
				if err != nil {
					return err
				}
				out = append(out, metering.Row{Plan: plan, Key: key, Granularity: q.Granularity, Start: time.Unix(start, 0).UTC(), Counts: c})
			}
			if full() {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrapHistory(err)
	}
	metering.SortRows(out)
	return out, nil
}

// planKeys lists the key IDs that have rows of plan under cur's bucket,
// in the bucket's order (by length, then bytes): a seek per key.
func planKeys(cur *bolt.Cursor, plan string) ([]string, error) {
	var keys []string
	pp := planPrefix(nil, plan)
	at, _ := cur.Seek(pp)
	for at != nil && bytes.HasPrefix(at, pp) {
		p, key, _, ok := decodeRowKey(at)
		if !ok || p != plan {
			return nil, errBadRow
		}
		keys = append(keys, key)
		// On to the next key: past the latest start this key can have.
		last := binary.BigEndian.AppendUint64(rowPrefix(nil, plan, key), math.MaxUint64)
		if at, _ = cur.Seek(last); bytes.Equal(at, last) {
			at, _ = cur.Next()
		}
	}
	return keys, nil
}

// pruneHistoryBatch bounds the rows deleted by one transaction.
const pruneHistoryBatch = 10_000

// PruneHistory implements metering.HistoryStore: it walks the index of
// g from its oldest entry and deletes rows in transactions of at most
// pruneHistoryBatch rows.
func (s *Store) PruneHistory(_ context.Context, g metering.Granularity, before time.Time) error {
	if !g.Valid() {
		return fmt.Errorf("boltstore: granularity %d is not Hour or Day", g)
	}
	end := binary.BigEndian.AppendUint64(nil, uint64(before.Unix())^(1<<63))
	for {
		var done bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			hb := tx.Bucket(historyBucket)
			if hb == nil || hb.Bucket(historyIndex[g]) == nil {
				done = true
				return nil
			}
			b, ib := hb.Bucket(historyRows[g]), hb.Bucket(historyIndex[g])
			var old [][]byte
			cur := ib.Cursor()
			for k, _ := cur.First(); k != nil && bytes.Compare(k[:min(8, len(k))], end) < 0 && len(old) < pruneHistoryBatch; k, _ = cur.Next() {
				old = append(old, bytes.Clone(k))
			}
			done = len(old) < pruneHistoryBatch
			for _, ik := range old {
				if len(ik) < 8 {
					return errBadRow
				}
				if err := b.Delete(rowKeyOf(ik)); err != nil {
					return err
				}
				if err := ib.Delete(ik); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || done {
			return s.wrapHistory(err)
		}
	}
}

func (s *Store) wrapHistory(err error) error {
	if errors.Is(err, errBadRow) {
		return corrupt(s.path, "a history row fails its checksum")
	}
	return s.wrap(err)
}

// validateHistory checks the history buckets of a file being opened:
// only the known buckets, every row decoding and passing its checksum,
// and an index entry for every row and none other.
func validateHistory(path string, hb *bolt.Bucket) error {
	if hb == nil {
		return nil
	}
	known := map[string]bool{
		string(historyWriters): true, string(historyWritersByAge): true,
		string(legacyBatches): true, string(legacyBatchesByAge): true, // deleted by the next write
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		known[string(historyRows[g])], known[string(historyIndex[g])] = true, true
	}
	if err := validateWriters(path, hb.Bucket(historyWriters), hb.Bucket(historyWritersByAge)); err != nil {
		return err
	}
	err := hb.ForEach(func(name, v []byte) error {
		if v != nil || !known[string(name)] {
			return corrupt(path, fmt.Sprintf("unexpected entry %q in its history bucket", name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		b, ib := hb.Bucket(historyRows[g]), hb.Bucket(historyIndex[g])
		rows, index := 0, 0
		if b != nil {
			err := b.ForEach(func(k, v []byte) error {
				rows++
				if _, _, _, ok := decodeRowKey(k); !ok || v == nil {
					return corrupt(path, fmt.Sprintf("%s history row %d has a malformed key", g, rows))
				}
				if _, err := decodeCounts(k, v); err != nil {
					return corrupt(path, fmt.Sprintf("%s history row %d fails its checksum", g, rows))
				}
				if ib == nil || ib.Get(indexKey(k)) == nil {
					return corrupt(path, fmt.Sprintf("%s history row %d is missing from its index", g, rows))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if ib != nil {
			err := ib.ForEach(func(k, v []byte) error {
				index++
				if len(k) < 8 || v == nil {
					return corrupt(path, fmt.Sprintf("%s history index entry %d is malformed", g, index))
				}
				if _, _, _, ok := decodeRowKey(rowKeyOf(k)); !ok {
					return corrupt(path, fmt.Sprintf("%s history index entry %d is malformed", g, index))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if index != rows {
			return corrupt(path, fmt.Sprintf("the %s history index has %d entries for %d rows", g, index, rows))
		}
	}
	return nil
}

// validateWriters checks the records of the writers: every entry a
// valid writer ID passing its checksum and indexed by its time, and no
// index entry other.
func validateWriters(path string, wb, ab *bolt.Bucket) error {
	entries, index := 0, 0
	if wb != nil {
		err := wb.ForEach(func(k, v []byte) error {
			entries++
			p, ok := decodeWriterValue(k, v)
			if !ok {
				return corrupt(path, fmt.Sprintf("history writer entry %d fails its checksum", entries))
			}
			if (metering.Batch{Writer: string(k), Seq: 1}).Check() != nil {
				return corrupt(path, fmt.Sprintf("history writer entry %d has a malformed writer ID", entries))
			}
			if ab == nil || ab.Get(writerAgeKey(k, p.at)) == nil {
				return corrupt(path, fmt.Sprintf("history writer entry %d is missing from its index", entries))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if ab != nil {
		err := ab.ForEach(func(k, v []byte) error {
			index++
			if len(k) <= 8 || v == nil {
				return corrupt(path, fmt.Sprintf("history writer index entry %d is malformed", index))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if entries != index {
		return corrupt(path, fmt.Sprintf("the history writer index has %d entries for %d writers", index, entries))
	}
	return nil
}

// HistoryPlans implements metering.HistoryStore: a seek per plan in each
// granularity's rows.
func (s *Store) HistoryPlans(context.Context) ([]string, error) {
	seen := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(historyBucket)
		if hb == nil {
			return nil
		}
		for _, name := range historyRows {
			b := hb.Bucket(name)
			if b == nil {
				continue
			}
			cur := b.Cursor()
			for k, _ := cur.First(); k != nil; {
				plan, _, _, ok := decodeRowKey(k)
				if !ok {
					return errBadRow
				}
				seen[plan] = true
				// Past every row of the plan: its prefix with the
				// largest key length.
				k, _ = cur.Seek(binary.BigEndian.AppendUint16(planPrefix(nil, plan), math.MaxUint16))
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrapHistory(err)
	}
	plans := make([]string, 0, len(seen))
	for p := range seen {
		plans = append(plans, p)
	}
	slices.Sort(plans)
	return plans, nil
}
