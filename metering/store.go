package metering

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// HistoryStore keeps history rows. The Recorder writes to it; readers
// query it. Implementations must be safe for concurrent use.
//
// # Batches are applied once
//
// Each AddHistory call carries a Batch: rows, the ID of the writer that
// made them (NewWriterID, one per Recorder) and the batch's sequence
// number in that writer's batches (1, 2, 3, ...). A writer sends its
// batches in order, one at a time: it writes a batch again after an
// error — a reply lost to a timeout after the write landed, or a
// PartialWriteError — with the same Writer and Seq and the same rows in
// the same order, or a prefix of them (rows dropped from the end), until
// the store takes it, and only then a batch of a higher Seq.
//
// A store splits a batch into parts (the rows of one transaction, at
// fixed row offsets, so that a prefix's parts are the first parts of
// the whole) and applies them in order. For each writer it records the
// last (Seq, part) it applied, and applies nothing of a (Seq, part) at
// or below it: a retry adds only the parts no earlier call added and
// returns nil once every part is added, even when the earlier call added
// all of them; a batch older than the writer's last applied one adds
// nothing at all. A request is then counted exactly once however often
// its flush is retried. (A store whose transactions cannot span every
// key — redisstore on a Ring or a Cluster — records the last (Seq, part)
// per writer and (plan, key) instead, and applies a part per (plan,
// key): an older batch then adds nothing of the (plan, key)s the store
// applied a part of it, or of a later batch, for. With a writer that
// sends in order, as the Recorder does, that is all of them.)
//
// A store may forget a writer it has not heard from for BatchWindow
// (24 hours): a writer silent that long that then replays an old batch
// would have it counted again. A Recorder never does: it retries its
// held batch at every flush, each retry that reaches the store renews
// the writer's record, it drops a batch it could not store within half
// of BatchWindow, and a new Recorder is a new writer.
type HistoryStore interface {
	// AddHistory adds each of b's rows' counts to the stored row of the
	// same plan, key, granularity and start, creating it at zero first,
	// except the parts of b at or below the last one applied for
	// b.Writer (see above). On an error, nothing
	// of b was added, unless the error is a PartialWriteError (the
	// first rows were added) or the store cannot know whether its write
	// landed (a reply lost to a timeout); either way a retry of b adds
	// only what was not.
	AddHistory(ctx context.Context, b Batch) error
	// History returns the rows q selects, ordered by key, then start
	// (SortRows); with q.Limit > 0, only the first q.Limit of them, and
	// it stops reading once it has those. q has been checked
	// (Query.Check).
	History(ctx context.Context, q Query) ([]Row, error)
	// PruneHistory deletes the rows of granularity g that start before
	// `before`.
	PruneHistory(ctx context.Context, g Granularity, before time.Time) error
	// HistoryPlans returns the IDs of the plans that have rows, sorted
	// (an export of every plan queries each).
	HistoryPlans(ctx context.Context) ([]string, error)
}

// PartialWriteError is AddHistory's error when the batch was written in
// parts and the first Written rows were added: the others were not, or
// may not have been (a reply lost after them). A retry of the batch
// (same Writer and Seq) adds only the rows not added; the Recorder counts the first
// Written as stored meanwhile (Recorder.History).
type PartialWriteError struct {
	Written int
	Err     error // why the rest was not written
}

func (e *PartialWriteError) Error() string {
	return fmt.Sprintf("metering: %d history rows written, the rest not: %v", e.Written, e.Err)
}

func (e *PartialWriteError) Unwrap() error { return e.Err }

// BatchWindow is how long a HistoryStore remembers a writer after its
// last call (24 hours): a retry of the writer's batch within it adds
// nothing twice. Every call renews the writer's record, a retry of a
// part already applied too. The Recorder retries a failed batch at each
// flush (every 10 s by default) for at most half of the window, so the
// window only bounds how long a store keeps the records of writers gone
// silent (a Recorder closed or its process ended).
const BatchWindow = 24 * time.Hour

// MaxWriterLen bounds the length of a Batch's Writer.
const MaxWriterLen = 128

// Batch is the rows of one AddHistory call and the batch's identity: the
// writer that made it and its place in that writer's batches.
type Batch struct {
	// Writer identifies the batch's writer for the store's exactly-once
	// check: 1 to MaxWriterLen bytes of ASCII letters, digits and "-_.:".
	// Choose one per writer (NewWriterID) and keep it for all its
	// batches.
	Writer string
	// Seq is the batch's sequence number among the writer's batches,
	// from 1, one more per new batch; a retry of the batch keeps it.
	Seq  uint64
	Rows []Row
}

// NewWriterID returns a new random writer ID: 128 bits from crypto/rand,
// in 32 hex digits.
func NewWriterID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Check reports a batch no store can keep: a Writer that is empty,
// longer than MaxWriterLen or of other characters than ASCII letters,
// digits and "-_.:", a Seq of 0, or a row CheckRows refuses. Stores call
// it before writing anything.
func (b Batch) Check() error {
	if err := checkWriter(b.Writer); err != nil {
		return err
	}
	if b.Seq == 0 {
		return fmt.Errorf("metering: batch %d of writer %s: a batch's Seq starts at 1", b.Seq, b.Writer)
	}
	return CheckRows(b.Rows)
}

func checkWriter(w string) error {
	if w == "" || len(w) > MaxWriterLen {
		return fmt.Errorf("metering: a batch's Writer must be 1 to %d bytes long (got %d)", MaxWriterLen, len(w))
	}
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Errorf("metering: batch Writer %q has a byte other than ASCII letters, digits and -_.:", w)
		}
	}
	return nil
}

// Default retention of the history: what a Recorder keeps when
// Config.Retention leaves a granularity at 0.
const (
	DefaultHourRetention = 31 * 24 * time.Hour
	DefaultDayRetention  = 400 * 24 * time.Hour
)

// Retention is how long rows are kept, per granularity: a row is pruned
// once its start is that long ago. 0 means the default.
type Retention struct {
	Hour time.Duration // DefaultHourRetention (31 days) when 0
	Day  time.Duration // DefaultDayRetention (400 days) when 0
}

func (r Retention) of(g Granularity) time.Duration {
	if g == Hour {
		return cmp.Or(r.Hour, DefaultHourRetention)
	}
	return cmp.Or(r.Day, DefaultDayRetention)
}
