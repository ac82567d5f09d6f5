package metering

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/planguard/planguard/limiter"
)

// DefaultFlushInterval is how often a started Recorder writes to its
// store when Config.FlushInterval is 0.
const DefaultFlushInterval = 10 * time.Second

// DefaultMaxPending is how many rows a Recorder keeps for a retry after
// its store failed when Config.MaxPending is 0.
const DefaultMaxPending = 1 << 20

const recorderShards = 256

// Config holds a Recorder's optional settings; the zero value is the
// documented default.
type Config struct {
	// FlushInterval is how often the goroutine Start starts writes the
	// sums to the store; 0 means DefaultFlushInterval (10 s). It is the
	// most history a crash loses.
	FlushInterval time.Duration
	// Retention is how long the store keeps rows (31 days hourly, 400
	// days daily by default). The Recorder prunes the store at most once
	// per hour, when it flushes.
	Retention Retention
	// Now is the clock of Record and of pruning; nil means time.Now. It
	// must be safe for concurrent use.
	Now func() time.Time
	// OnError is told of the failures of the background flushes (Flush
	// and Close return theirs); nil ignores them. Failed rows are kept
	// and written with the next flush. It is called from the flushing
	// goroutine, never while a lock is held; it must be safe for
	// concurrent use.
	OnError func(error)
	// MaxPending bounds the rows kept for a retry while the store fails;
	// 0 means DefaultMaxPending (about a million). Rows past it are
	// dropped and reported in the flush's error.
	MaxPending int
}

// Recorder sums usage events per (plan, key) in memory and writes the
// sums to a HistoryStore. Recording takes a lock of one of 256 shards
// (chosen by plan and key), never a store round trip. Memory holds one
// entry per (plan, key) recorded since the previous flush, which lets
// go of the entries idle for a whole interval.
//
// Make one with NewRecorder (its zero value is not usable). It is safe
// for concurrent use. A Recorder whose goroutine was started must be
// closed; it must not be used after Close.
type Recorder struct {
	store  HistoryStore
	cfg    Config
	now    func() time.Time
	seed   maphash.Seed
	shards [recorderShards]recorderShard

	flushMu    sync.Mutex // one flush (or History) at a time
	pending    []Row      // rows a failed write left for the next (under flushMu)
	prunedHour int64      // the hour (Unix seconds) of the last prune (under flushMu)

	startOnce, closeOnce sync.Once
	started              bool          // set under startOnce
	stop, done           chan struct{} // the flushing goroutine's, when started
	closeErr             error
}

type pairKey struct{ plan, key string }

type recorderShard struct {
	mu sync.Mutex
	// pairs is keyed by the hash of (plan, key), so that a lookup
	// hashes the strings once (to pick the shard) and not twice; a pair
	// whose hash another pair holds goes to collided.
	pairs    map[uint64]*pair
	collided map[pairKey]*pair
	closed   []Row // rows of hours and days that ended since the last flush
	_        [64 - 8 - 8 - 8 - 24]byte
}

// lookup returns the pair of k (hash h), making it if needed. sh.mu is
// held.
func (sh *recorderShard) lookup(h uint64, k pairKey) *pair {
	p := sh.pairs[h]
	switch {
	case p == nil:
		if sh.pairs == nil {
			sh.pairs = map[uint64]*pair{}
		}
		p = &pair{pairKey: k}
		sh.pairs[h] = p
	case p.pairKey != k:
		if p = sh.collided[k]; p == nil {
			if sh.collided == nil {
				sh.collided = map[pairKey]*pair{}
			}
			p = &pair{pairKey: k}
			sh.collided[k] = p
		}
	}
	return p
}

// each calls fn for every pair, and deletes those fn returns false for.
// sh.mu is held.
func (sh *recorderShard) each(fn func(p *pair) (keep bool)) {
	for h, p := range sh.pairs {
		if !fn(p) {
			delete(sh.pairs, h)
		}
	}
	for k, p := range sh.collided {
		if !fn(p) {
			delete(sh.collided, k)
		}
	}
}

// pair is one (plan, key)'s current hour and day, and what was recorded
// in them since the last flush.
type pair struct {
	pairKey
	zone             *time.Location // the zone dayStart and dayEnd are in
	hourStart        int64          // Unix seconds
	dayStart, dayEnd int64          // Unix seconds; dayEnd 0 before the first event
	hour, day        Counts
	active           bool // recorded since the last flush
}

// NewRecorder returns a Recorder writing to store. It starts no
// goroutine: call Start for the interval flushes, or Flush yourself.
func NewRecorder(store HistoryStore, cfg Config) (*Recorder, error) {
	if store == nil {
		return nil, errors.New("metering: nil HistoryStore")
	}
	if cfg.FlushInterval < 0 || cfg.MaxPending < 0 || cfg.Retention.Hour < 0 || cfg.Retention.Day < 0 {
		return nil, errors.New("metering: FlushInterval, MaxPending and Retention must not be negative")
	}
	if cfg.Retention.Hour > 0 && cfg.Retention.Hour < time.Hour || cfg.Retention.Day > 0 && cfg.Retention.Day < 24*time.Hour {
		return nil, errors.New("metering: Retention must keep at least one hour of hourly rows and one day of daily rows")
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	r := &Recorder{store: store, cfg: cfg, now: cfg.Now, seed: maphash.MakeSeed()}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Record is RecordAt with the Recorder's clock (Config.Now, time.Now by
// default).
func (r *Recorder) Record(plan, key string, zone *time.Location, c Counts) {
	r.RecordAt(r.now(), plan, key, zone, c)
}

// RecordAt adds c to the rows of (plan, key) for the hour and the day
// containing now; days are calendar days in zone (nil is UTC), the
// plan's time zone. Counts are added as given: record none below 0.
func (r *Recorder) RecordAt(now time.Time, plan, key string, zone *time.Location, c Counts) {
	if c.IsZero() {
		return
	}
	k := pairKey{plan, key}
	h := maphash.Comparable(r.seed, k)
	sh := &r.shards[h%recorderShards]
	sec := now.Unix()
	sh.mu.Lock()
	p := sh.lookup(h, k)
	fresh := p.dayEnd == 0
	switch hour := sec - floorMod(sec, 3600); {
	case hour == p.hourStart && !fresh:
		p.hour.Add(c)
	case hour < p.hourStart && !fresh: // a late event: its hour is over here
		sh.addClosed(Row{Plan: plan, Key: key, Granularity: Hour, Start: time.Unix(hour, 0).UTC(), Counts: c})
	default:
		if !p.hour.IsZero() {
			sh.addClosed(Row{Plan: plan, Key: key, Granularity: Hour, Start: time.Unix(p.hourStart, 0).UTC(), Counts: p.hour})
		}
		p.hourStart, p.hour = hour, c
	}
	if zone == p.zone && sec >= p.dayStart && sec < p.dayEnd {
		p.day.Add(c)
	} else {
		start, end := limiter.Day.Window(now, zone)
		switch day := start.Unix(); {
		case fresh:
			p.zone, p.dayStart, p.dayEnd, p.day = zone, day, end.Unix(), c
		case day == p.dayStart: // the same day, through another *Location
			p.zone, p.dayEnd = zone, end.Unix()
			p.day.Add(c)
		case day < p.dayStart && zone == p.zone: // a late event
			sh.addClosed(Row{Plan: plan, Key: key, Granularity: Day, Start: start.UTC(), Counts: c})
		default: // the next day, or the plan's zone changed
			if !p.day.IsZero() {
				sh.addClosed(Row{Plan: plan, Key: key, Granularity: Day, Start: time.Unix(p.dayStart, 0).UTC(), Counts: p.day})
			}
			p.zone, p.dayStart, p.dayEnd, p.day = zone, day, end.Unix(), c
		}
	}
	p.active = true
	sh.mu.Unlock()
}

// addClosed keeps r, a row whose hour or day is over, for the next
// flush. It is summed into one of the last few closed rows when that is
// the same row: late events of a key around a boundary come together,
// and their hour and day rows alternate. sh.mu is held.
func (sh *recorderShard) addClosed(r Row) {
	for i := len(sh.closed) - 1; i >= max(0, len(sh.closed)-4); i-- {
		if c := &sh.closed[i]; c.Plan == r.Plan && c.Key == r.Key && c.Granularity == r.Granularity && c.Start.Equal(r.Start) {
			c.Add(r.Counts)
			return
		}
	}
	sh.closed = append(sh.closed, r)
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// collect takes the counts recorded since the last flush out of the
// shards, as rows, and lets go of the pairs that recorded nothing.
func (r *Recorder) collect(rows []Row) []Row {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		rows = append(rows, sh.closed...)
		sh.closed = nil
		sh.each(func(p *pair) bool {
			if !p.active {
				return false
			}
			rows = p.appendRows(rows)
			p.hour, p.day, p.active = Counts{}, Counts{}, false
			return true
		})
		sh.mu.Unlock()
	}
	return rows
}

func (p *pair) appendRows(rows []Row) []Row {
	k := p.pairKey
	if !p.hour.IsZero() {
		rows = append(rows, Row{Plan: k.plan, Key: k.key, Granularity: Hour, Start: time.Unix(p.hourStart, 0).UTC(), Counts: p.hour})
	}
	if !p.day.IsZero() {
		rows = append(rows, Row{Plan: k.plan, Key: k.key, Granularity: Day, Start: time.Unix(p.dayStart, 0).UTC(), Counts: p.day})
	}
	return rows
}

// coalesce sums the rows of the same plan, key, granularity and start,
// keeping the first one's place.
func coalesce(rows []Row) []Row {
	type id struct {
		plan, key string
		g         Granularity
		start     int64
	}
	at := make(map[id]int, len(rows))
	out := rows[:0]
	for _, row := range rows {
		k := id{row.Plan, row.Key, row.Granularity, row.Start.Unix()}
		if i, ok := at[k]; ok {
			out[i].Add(row.Counts)
			continue
		}
		at[k] = len(out)
		out = append(out, row)
	}
	clear(rows[len(out):])
	return out
}

// Flush writes what was recorded since the last flush to the store, in
// one AddHistory call of at most two rows per (plan, key) recorded (its
// hour and its day), plus the rows of hours and days that ended
// meanwhile and those a failed flush left. Once per hour it also prunes
// the store (Config.Retention). On an error the rows are kept for the
// next flush, up to Config.MaxPending.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	rows := coalesce(r.collect(r.pending))
	r.pending = nil
	if len(rows) > 0 {
		if err := r.store.AddHistory(ctx, rows); err != nil {
			err = fmt.Errorf("metering: writing %d history rows: %w", len(rows), err)
			if pw := (*PartialWriteError)(nil); errors.As(err, &pw) && pw.Written > 0 && pw.Written <= len(rows) {
				rows = rows[pw.Written:]
			}
			if drop := len(rows) - r.cfg.MaxPending; drop > 0 {
				err = fmt.Errorf("%w; %d rows dropped (MaxPending)", err, drop)
				rows = rows[:r.cfg.MaxPending]
			}
			r.pending = rows
			return err
		}
	}
	now := r.now().Unix()
	if hour := now - floorMod(now, 3600); hour != r.prunedHour {
		for _, g := range []Granularity{Hour, Day} {
			before := time.Unix(now, 0).Add(-r.cfg.Retention.of(g))
			if err := r.store.PruneHistory(ctx, g, before); err != nil {
				return fmt.Errorf("metering: pruning %s history: %w", g, err)
			}
		}
		r.prunedHour = hour
	}
	return nil
}

// Start starts the goroutine that flushes every Config.FlushInterval,
// each flush bounded by the interval; Close stops it. Start is
// idempotent.
func (r *Recorder) Start() {
	r.startOnce.Do(func() {
		r.started = true
		r.stop, r.done = make(chan struct{}), make(chan struct{})
		go r.run()
	})
}

func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FlushInterval)
			err := r.Flush(ctx)
			cancel()
			if err != nil && r.cfg.OnError != nil {
				r.cfg.OnError(err)
			}
		}
	}
}

// Close stops the flushing goroutine and flushes what is left; ctx
// bounds that last write. Close is idempotent: later calls return the
// first one's error.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.startOnce.Do(func() {}) // no Start from now on
		if r.started {
			close(r.stop)
			<-r.done
		}
		r.closeErr = r.Flush(ctx)
	})
	return r.closeErr
}

// History returns the rows q selects: the store's, with what this
// Recorder holds and has not written yet added in, ordered as SortRows
// orders them.
func (r *Recorder) History(ctx context.Context, q Query) ([]Row, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	r.flushMu.Lock() // no flush moves counts into the store meanwhile
	defer r.flushMu.Unlock()
	rows, err := r.store.History(ctx, q)
	if err != nil {
		return nil, err
	}
	var keys map[string]bool
	if len(q.Keys) > 0 {
		keys = make(map[string]bool, len(q.Keys))
		for _, k := range q.Keys {
			keys[k] = true
		}
	}
	selected := func(row Row) bool {
		return row.Plan == q.Plan && row.Granularity == q.Granularity && (keys == nil || keys[row.Key]) && q.matches(row)
	}
	held := slices.Clone(r.pending)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		held = append(held, sh.closed...)
		sh.each(func(p *pair) bool {
			if p.plan == q.Plan && (keys == nil || keys[p.key]) {
				held = p.appendRows(held)
			}
			return true
		})
		sh.mu.Unlock()
	}
	n := len(rows)
	for _, row := range held {
		if selected(row) {
			rows = append(rows, row)
		}
	}
	if len(rows) > n {
		rows = coalesce(rows)
		SortRows(rows)
	}
	return rows, nil
}
