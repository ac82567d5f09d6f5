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
// Each AddHistory call carries a Batch: rows and an ID the caller
// chooses (NewBatchID), unique to those rows. A caller that writes the
// batch again after an error — a reply lost to a timeout after the
// write landed, or a PartialWriteError — passes the same ID with the
// same rows in the same order, or a prefix of them (rows dropped from
// the end). A store applies each row of a batch at most once per ID
// within BatchWindow of applying it: a retry adds only the rows no
// earlier call of the ID added, and returns nil once every row is added,
// even when the earlier call added all of them. A request is then
// counted exactly once however often its flush is retried, provided the
// retries end within BatchWindow. A store records the IDs it applied
// with the time, and forgets them past BatchWindow; a batch of other
// rows under an ID already applied is the caller's error (the store may
// skip rows of it as already added).
type HistoryStore interface {
	// AddHistory adds each of b's rows' counts to the stored row of the
	// same plan, key, granularity and start, creating it at zero first,
	// unless b.ID was applied before (see above). On an error, nothing
	// of b was added, unless the error is a PartialWriteError (the
	// first rows were added) or the store cannot know whether its write
	// landed (a reply lost to a timeout); either way a retry of b adds
	// only what was not.
	AddHistory(ctx context.Context, b Batch) error
	// History returns the rows q selects, ordered by key, then start
	// (SortRows). q has been checked (Query.Check).
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
// (same ID) adds only the rows not added; the Recorder counts the first
// Written as stored meanwhile (Recorder.History).
type PartialWriteError struct {
	Written int
	Err     error // why the rest was not written
}

func (e *PartialWriteError) Error() string {
	return fmt.Sprintf("metering: %d history rows written, the rest not: %v", e.Written, e.Err)
}

func (e *PartialWriteError) Unwrap() error { return e.Err }

// BatchWindow is how long a HistoryStore remembers a Batch ID it applied
// (24 hours): a retry of the batch within it adds nothing twice. The
// Recorder retries a failed batch at each flush (every 10 s by default)
// until it is stored, so the window covers a store unreachable for up
// to a day after a write whose reply was lost.
const BatchWindow = 24 * time.Hour

// MaxBatchIDLen bounds the length of a Batch ID.
const MaxBatchIDLen = 128

// Batch is the rows of one AddHistory call and the batch's identity.
type Batch struct {
	// ID identifies the batch for the store's exactly-once check: 1 to
	// MaxBatchIDLen bytes of ASCII letters, digits and "-_.:". Choose a
	// new one per batch (NewBatchID) and keep it for the batch's
	// retries.
	ID   string
	Rows []Row
}

// NewBatchID returns a new random batch ID: 128 bits from crypto/rand,
// in 32 hex digits.
func NewBatchID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Check reports a batch no store can keep: an ID that is empty, longer
// than MaxBatchIDLen or of other characters than ASCII letters, digits
// and "-_.:", or a row CheckRows refuses. Stores call it before writing
// anything.
func (b Batch) Check() error {
	if err := checkBatchID(b.ID); err != nil {
		return err
	}
	return CheckRows(b.Rows)
}

func checkBatchID(id string) error {
	if id == "" || len(id) > MaxBatchIDLen {
		return fmt.Errorf("metering: a batch ID must be 1 to %d bytes long (got %d)", MaxBatchIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Errorf("metering: batch ID %q has a byte other than ASCII letters, digits and -_.:", id)
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
