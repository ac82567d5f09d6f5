package metering

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

var _ HistoryStore = (*MemoryHistory)(nil)

// MemoryHistory is a HistoryStore in memory, for a single process whose
// history need not survive it (and for tests). Its zero value is ready
// to use; it is safe for concurrent use. It applies a batch whole, under
// one lock (a batch is one part), and remembers for each writer the Seq
// of the last batch it applied, and when, for BatchWindow.
type MemoryHistory struct {
	// Now is the clock that dates the batches applied, for BatchWindow;
	// nil means time.Now. Set it before the first use.
	Now func() time.Time

	mu      sync.Mutex
	series  map[seriesKey]*series
	plans   map[string]map[string]int // plan → key → its number of series
	rows    int
	writers map[string]writerRecord // writer → its last batch applied, within BatchWindow
	// nextForget is when the oldest writer record may pass BatchWindow
	// (Unix ns): the records are scanned then, not at every batch.
	nextForget int64
}

// writerRecord is the last batch MemoryHistory applied of a writer, and
// when.
type writerRecord struct {
	seq uint64
	at  int64 // Unix nanoseconds
}

type seriesKey struct {
	plan, key string
	g         Granularity
}

// series is one (plan, key, granularity)'s rows, ordered by start.
type series struct {
	starts []int64 // Unix seconds
	counts []Counts
}

// checkRow reports a row no store can keep.
func checkRow(r Row) error {
	switch {
	case r.Plan == "" || r.Key == "":
		return fmt.Errorf("metering: a history row has no plan or no key (%q, %q)", r.Plan, r.Key)
	case !r.Granularity.Valid():
		return fmt.Errorf("metering: a history row of %s/%s has granularity %d", r.Plan, r.Key, r.Granularity)
	case r.Granularity == Hour && !r.Start.Equal(r.Start.Truncate(time.Hour)):
		return fmt.Errorf("metering: an hourly row of %s/%s starts at %s, not at the start of an hour", r.Plan, r.Key, FormatTime(r.Start))
	}
	return nil
}

// CheckRows reports the first row of rows that no store can keep: one
// without a plan or a key, of a granularity other than Hour or Day, or
// an hourly row whose Start is not the first instant of an hour (UTC).
// Stores call it before writing anything.
func CheckRows(rows []Row) error {
	for _, r := range rows {
		if err := checkRow(r); err != nil {
			return err
		}
	}
	return nil
}

// AddHistory implements HistoryStore: the whole batch at once, or
// nothing when its Seq is at or below the last one applied of its
// Writer within BatchWindow.
func (m *MemoryHistory) AddHistory(_ context.Context, b Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	at := now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series == nil {
		m.series = map[seriesKey]*series{}
		m.plans = map[string]map[string]int{}
		m.writers = map[string]writerRecord{}
	}
	m.forget(at)
	if last, ok := m.writers[b.Writer]; ok && b.Seq <= last.seq {
		// Applied, or older than what was: only renew the record, so
		// that a writer still retrying keeps it while it retries.
		m.writers[b.Writer] = writerRecord{last.seq, max(last.at, at)}
		return nil
	}
	m.writers[b.Writer] = writerRecord{b.Seq, at}
	if len(m.writers) == 1 {
		m.nextForget = at + int64(BatchWindow)
	}
	for _, r := range b.Rows {
		k := seriesKey{r.Plan, r.Key, r.Granularity}
		s := m.series[k]
		if s == nil {
			s = &series{}
			m.series[k] = s
			keys := m.plans[r.Plan]
			if keys == nil {
				keys = map[string]int{}
				m.plans[r.Plan] = keys
			}
			keys[r.Key]++
		}
		start := r.Start.Unix()
		i, found := slices.BinarySearch(s.starts, start)
		if !found {
			s.starts = slices.Insert(s.starts, i, start)
			s.counts = slices.Insert(s.counts, i, Counts{})
			m.rows++
		}
		s.counts[i].Add(r.Counts)
	}
	return nil
}

// forget deletes the records of the writers last heard from BatchWindow
// or more before at (Unix ns), when the oldest may be. m.mu is held.
func (m *MemoryHistory) forget(at int64) {
	if len(m.writers) == 0 || at < m.nextForget {
		return
	}
	m.nextForget = math.MaxInt64
	for w, r := range m.writers {
		if at-r.at >= int64(BatchWindow) {
			delete(m.writers, w)
			continue
		}
		m.nextForget = min(m.nextForget, r.at+int64(BatchWindow))
	}
}

// History implements HistoryStore.
func (m *MemoryHistory) History(_ context.Context, q Query) ([]Row, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := q.Keys
	if len(keys) == 0 {
		for k := range m.plans[q.Plan] {
			keys = append(keys, k)
		}
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var out []Row
	from, to := q.From.Unix(), q.To.Unix()
	for _, key := range keys {
		s := m.series[seriesKey{q.Plan, key, q.Granularity}]
		if s == nil {
			continue
		}
		i := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] >= from })
		for ; i < len(s.starts) && s.starts[i] < to; i++ {
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
			out = append(out, Row{Plan: q.Plan, Key: key, Granularity: q.Granularity, Start: time.Unix(s.starts[i], 0).UTC(), Counts: s.counts[i]})
		}
	}
	return out, nil
}

// PruneHistory implements HistoryStore.
func (m *MemoryHistory) PruneHistory(_ context.Context, g Granularity, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := before.Unix()
	for k, s := range m.series {
		if k.g != g || len(s.starts) == 0 || s.starts[0] >= b {
			continue
		}
		n := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] >= b })
		m.rows -= n
		s.starts = slices.Delete(s.starts, 0, n)
		s.counts = slices.Delete(s.counts, 0, n)
		if len(s.starts) == 0 {
			delete(m.series, k)
			if keys := m.plans[k.plan]; keys != nil {
				if keys[k.key]--; keys[k.key] == 0 {
					delete(keys, k.key)
				}
				if len(keys) == 0 {
					delete(m.plans, k.plan)
				}
			}
		}
	}
	return nil
}

// Len returns the number of rows held.
func (m *MemoryHistory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows
}

// HistoryPlans implements HistoryStore.
func (m *MemoryHistory) HistoryPlans(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	plans := make([]string, 0, len(m.plans))
	for p := range m.plans {
		plans = append(plans, p)
	}
	slices.Sort(plans)
	return plans, nil
}
