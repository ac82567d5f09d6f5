package metering

import (
	"cmp"
	"context"
	"time"
)

// HistoryStore keeps history rows. The Recorder writes to it; readers
// query it. Implementations must be safe for concurrent use.
type HistoryStore interface {
	// AddHistory adds each row's counts to the stored row of the same
	// plan, key, granularity and start, creating it at zero first. It is
	// one write (a transaction, a pipeline) for the whole batch. On an
	// error, rows may have been added in part only when the store says
	// so (a store that cannot know whether its write landed).
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
