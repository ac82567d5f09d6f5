package metering

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

var _ HistoryStore = (*MemoryHistory)(nil)

// MemoryHistory is a HistoryStore in memory, for a single process whose
// history need not survive it (and for tests). Its zero value is ready
// to use; it is safe for concurrent use. It applies a batch whole, under
// one lock, and remembers the IDs of the batches it applied for
// BatchWindow.
type MemoryHistory struct {
	// Now is the clock that dates the batches applied, for BatchWindow;
	// nil means time.Now. Set it before the first use.
	Now func() time.Time

	mu      sync.Mutex
	series  map[seriesKey]*series
	plans   map[string]map[string]int // plan → key → its number of series
	rows    int
	applied map[string]bool // the IDs of the batches applied within BatchWindow
	batches []appliedBatch  // the same, in the order applied
}

// appliedBatch is a batch ID MemoryHistory applied, and when.
type appliedBatch struct {
	id string
	at int64 // Unix nanoseconds
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
	}
	return nil
}

// CheckRows reports the first row of rows that no store can keep: one
// without a plan or a key, or of a granularity other than Hour or Day.
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
// nothing when its ID was applied within BatchWindow.
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
		m.applied = map[string]bool{}
	}
	// Forget the batches applied more than BatchWindow ago.
	n := 0
	for n < len(m.batches) && at-m.batches[n].at >= int64(BatchWindow) {
		delete(m.applied, m.batches[n].id)
		n++
	}
	if n > 0 {
		m.batches = slices.Delete(m.batches, 0, n)
	}
	if m.applied[b.ID] {
		return nil
	}
	m.applied[b.ID] = true
	m.batches = append(m.batches, appliedBatch{b.ID, at})
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
