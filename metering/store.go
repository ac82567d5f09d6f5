package metering

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// HistoryStore keeps history rows. The Recorder writes to it; readers
// query it. Implementations must be safe for concurrent use.
type HistoryStore interface {
	// AddHistory adds each row's counts to the stored row of the same
	// plan, key, granularity and start, creating it at zero first. On an
	// error nothing was added, unless the error is a PartialWriteError
	// (the first rows were added) or the store cannot know whether its
	// write landed (a reply lost to a timeout), which its docs say.
	AddHistory(ctx context.Context, rows []Row) error
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
// parts and the first Written rows were added: the Recorder writes only
// the others again.
type PartialWriteError struct {
	Written int
	Err     error // why the rest was not written
}

func (e *PartialWriteError) Error() string {
	return fmt.Sprintf("metering: %d history rows written, the rest not: %v", e.Written, e.Err)
}

func (e *PartialWriteError) Unwrap() error { return e.Err }

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
