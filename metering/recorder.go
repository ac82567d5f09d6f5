package metering

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
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
	// shards comes first: each shard then starts where the Recorder
	// does modulo 64 (the allocator's header at most 8 bytes before),
	// and its lock and index header share a cache line
	// (TestRecorderLayout).
	shards [recorderShards]recorderShard
	store  HistoryStore
	cfg    Config
	now    func() time.Time
	seed   maphash.Seed

	flushMu sync.Mutex // one flush (or History) at a time
	// writer is the Recorder's writer ID (NewWriterID), seq the Seq of
	// its last batch (under flushMu): the store applies each batch of
	// the writer once, and none older than one it applied.
	writer string
	seq    uint64
	// failed is the batch being written, kept when its write fails and
	// retried as it is (same Writer, Seq and rows, or a prefix of them)
	// until the store takes it (under flushMu); its Seq is 0 when none
	// is held. Its first written rows are known stored (a
	// PartialWriteError).
	failed     Batch
	written    int
	failedAt   time.Time    // when failed was first written (see giveUpAfter)
	pending    []Row        // rows collected while failed was retried, not sent yet (under flushMu)
	prunedHour int64        // the hour (Unix seconds) of the last prune (under flushMu)
	unkeyed    atomic.Int64 // events RecordAt dropped for want of a plan or key, not yet reported

	startOnce, closeOnce sync.Once
	started              bool          // set under startOnce
	stop, done           chan struct{} // the flushing goroutine's, when started
	closeErr             error
}

// recorderShard is one of the Recorder's 256 shards: a mutex, an
// open-addressing index of its pairs, and the rows of hours and days
// that ended since the last flush: 64 bytes, one cache line. A request
// touches three: its shard's, an index slot's (the slot holds the plan
// and key the lookup compares) and its pair's.
type recorderShard struct {
	mu sync.Mutex
	// slots is the index, keyed by the hash of (plan, key) (bits above
	// the 8 that chose the shard): a power of two long, linear probing,
	// at most 3/4 full; nil before the first pair. A pair whose hash
	// another pair holds is found by probing on (the strings decide).
	slots  []slot
	n      int   // pairs in slots
	closed []Row // rows of hours and days that ended since the last flush
}

// slot is one (plan, key) in a shard's index. What the lookup reads —
// the hash, the pair pointer, the plan and the key — is its first 48
// bytes, so that it lies in one cache line wherever the allocator starts
// the slots (at most 16 bytes past a line, TestRecorderLayout); the day
// bounds after it are read only when the bucket changes.
type slot struct {
	h                uint64
	p                *pair // nil: empty
	plan, key        string
	dayStart, dayEnd int64 // the bucket's day, Unix seconds (read when the bucket changes)
}

// lookup returns the slot of (plan, key) (hash h), making it if needed;
// it is valid until the next lookup. sh.mu is held.
func (sh *recorderShard) lookup(h uint64, plan, key string) *slot {
	if sh.slots != nil {
		mask := uint64(len(sh.slots) - 1)
		for i := (h >> 8) & mask; ; i = (i + 1) & mask {
			s := &sh.slots[i]
			if s.p == nil {
				break
			}
			if s.h == h && s.plan == plan && s.key == key {
				return s
			}
		}
	}
	if (sh.n+1)*4 > len(sh.slots)*3 {
		sh.resize(max(16, 2*len(sh.slots)))
	}
	return sh.insert(slot{h: h, p: &pair{}, plan: plan, key: key})
}

// insert puts s in the index, which has room, and returns its place.
// sh.mu is held.
func (sh *recorderShard) insert(s slot) *slot {
	mask := uint64(len(sh.slots) - 1)
	i := (s.h >> 8) & mask
	for sh.slots[i].p != nil {
		i = (i + 1) & mask
	}
	sh.slots[i] = s
	sh.n++
	return &sh.slots[i]
}

// resize moves the index to n slots (a power of two, room for every
// pair). sh.mu is held.
func (sh *recorderShard) resize(n int) {
	old := sh.slots
	sh.slots, sh.n = make([]slot, n), 0
	for _, s := range old {
		if s.p != nil {
			sh.insert(s)
		}
	}
}

// each calls fn for every pair, and deletes those fn returns false for;
// the index shrinks with the pairs. sh.mu is held.
func (sh *recorderShard) each(fn func(s *slot) (keep bool)) {
	deleted := false
	for i := range sh.slots {
		if s := &sh.slots[i]; s.p != nil && !fn(s) {
			*s, deleted = slot{}, true
		}
	}
	if !deleted {
		return
	}
	kept := 0
	for _, s := range sh.slots {
		if s.p != nil {
			kept++
		}
	}
	if kept == 0 {
		sh.slots, sh.n = nil, 0
		return
	}
	size := 16
	for kept*4 > size*3/2 { // at most 3/8 full after a shrink
		size *= 2
	}
	sh.resize(size)
}

// pair is one (plan, key)'s current bucket: the part of its current
// hour (UTC) and day (in zone) that lie in one another, [start, end),
// and the counts recorded in it since the last flush or the last
// bucket: 64 bytes, one cache line (the allocator puts objects of this
// size on one). An event in the bucket reads and writes this line only;
// crossing an hour or a day folds cur into the shard's closed rows (its
// hour's and its day's) and opens the next bucket.
type pair struct {
	zone       *time.Location // the zone the bucket's day is in
	start, end int64          // the bucket, Unix seconds; end 0 before the first event
	cur        Counts         // recorded in the bucket since the last flush or fold
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
	if cfg.Retention.Hour > 0 && cfg.Retention.Hour < time.Hour || cfg.Retention.Day > 0 && cfg.Retention.Day < 25*time.Hour {
		// A day over a daylight-saving change lasts 25 hours: a day's
		// retention would prune the row of such a day in its last hour.
		return nil, errors.New("metering: Retention must keep at least one hour of hourly rows and 25 hours (the longest day) of daily rows")
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	r := &Recorder{store: store, cfg: cfg, now: cfg.Now, seed: maphash.MakeSeed(), writer: NewWriterID()}
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

// hash is the 64-bit hash of (plan, key): its low 8 bits choose the
// shard, the others the index slot.
func (r *Recorder) hash(plan, key string) uint64 {
	h := maphash.String(r.seed, key) ^ maphash.String(r.seed, plan)*0x9e3779b97f4a7c15
	return h ^ h>>29
}

// RecordAt adds c to the rows of (plan, key) for the hour and the day
// containing now; days are calendar days in zone (nil is UTC), the
// plan's time zone. Counts are added as given: record none below 0.
func (r *Recorder) RecordAt(now time.Time, plan, key string, zone *time.Location, c Counts) {
	if c.IsZero() {
		return
	}
	if plan == "" || key == "" {
		// No store keeps such a row (CheckRows), and one in a batch would
		// hold back every other row of it: counted and reported by the
		// next flush instead.
		r.unkeyed.Add(1)
		return
	}
	h := r.hash(plan, key)
	sh := &r.shards[h%recorderShards]
	sec := now.Unix()
	sh.mu.Lock()
	sl := sh.lookup(h, plan, key)
	if p := sl.p; sec >= p.start && sec < p.end && zone == p.zone {
		p.cur.Add(c)
	} else {
		sh.record(sl, now, sec, zone, c)
	}
	sh.mu.Unlock()
}

// record adds c, recorded at now (sec), to s when now is not in its
// bucket: a late event goes to the closed rows; a later one, or one in
// another zone, folds the bucket and opens now's. sh.mu is held.
func (sh *recorderShard) record(s *slot, now time.Time, sec int64, zone *time.Location, c Counts) {
	p := s.p
	hour := sec - floorMod(sec, 3600)
	if p.end != 0 && zone == p.zone && sec < p.start { // a late event: its bucket is over here
		sh.addClosed(Row{Plan: s.plan, Key: s.key, Granularity: Hour, Start: time.Unix(hour, 0).UTC(), Counts: c})
		day := s.dayStart
		if sec < day {
			start, _ := limiter.Day.Window(now, zone)
			day = start.Unix()
		}
		sh.addClosed(Row{Plan: s.plan, Key: s.key, Granularity: Day, Start: time.Unix(day, 0).UTC(), Counts: c})
		return
	}
	if p.end != 0 && zone != p.zone && sec >= p.start && sec < p.end {
		// Maybe the same day, through another *Location.
		if start, end := limiter.Day.Window(now, zone); start.Unix() == s.dayStart && end.Unix() == s.dayEnd {
			p.zone = zone
			p.cur.Add(c)
			return
		}
	}
	sh.fold(s)
	if p.end == 0 || zone != p.zone || sec < s.dayStart || sec >= s.dayEnd {
		start, end := limiter.Day.Window(now, zone)
		s.dayStart, s.dayEnd = start.Unix(), end.Unix()
	}
	p.zone = zone
	p.start, p.end = max(hour, s.dayStart), min(hour+3600, s.dayEnd)
	p.cur = c
}

// fold moves s's bucket's counts to the closed rows of its hour and its
// day. sh.mu is held.
func (sh *recorderShard) fold(s *slot) {
	if s.p.cur.IsZero() {
		return
	}
	var rows [2]Row
	for _, row := range s.appendRows(rows[:0]) {
		sh.addClosed(row)
	}
	s.p.cur = Counts{}
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
// shards, as rows, and lets go of the pairs that recorded nothing in
// their bucket.
func (r *Recorder) collect(rows []Row) []Row {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		rows = append(rows, sh.closed...)
		sh.closed = nil
		sh.each(func(s *slot) bool {
			if s.p.cur.IsZero() {
				return false
			}
			rows = s.appendRows(rows)
			s.p.cur = Counts{}
			return true
		})
		sh.mu.Unlock()
	}
	return rows
}

// appendRows appends s's bucket's counts as the rows of its hour and
// its day.
func (s *slot) appendRows(rows []Row) []Row {
	p := s.p
	if p.cur.IsZero() {
		return rows
	}
	hour := p.start - floorMod(p.start, 3600)
	return append(rows,
		Row{Plan: s.plan, Key: s.key, Granularity: Hour, Start: time.Unix(hour, 0).UTC(), Counts: p.cur},
		Row{Plan: s.plan, Key: s.key, Granularity: Day, Start: time.Unix(s.dayStart, 0).UTC(), Counts: p.cur})
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
// meanwhile. Each write is a Batch of the Recorder's writer ID (one per
// Recorder, NewWriterID) and the next Seq. A batch whose write fails is
// kept and written again, with the same Seq and rows, by the next
// flushes until the store takes it — the store adds what an earlier
// attempt added only once — before anything recorded since; those rows
// wait, summed, for the next batch. A batch still not stored 12 hours
// (half of BatchWindow) after its first write is dropped, and the error
// says how many rows it held: at most once rather than twice. Once per
// hour it also prunes the store (Config.Retention). The rows held for a
// retry are bounded by Config.MaxPending: past it, rows are dropped
// (see bound).
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var gaveUp error
	if n := r.unkeyed.Swap(0); n > 0 {
		gaveUp = fmt.Errorf("metering: %d events recorded without a plan or a key were dropped", n)
	}
	if r.failed.Seq != 0 {
		if since := r.now().Sub(r.failedAt); since >= giveUpAfter {
			gaveUp = errors.Join(gaveUp, fmt.Errorf("metering: gave up writing history batch %d of writer %s after %v of failures: up to %d rows dropped (a retry past BatchWindow could count them twice)",
				r.failed.Seq, r.failed.Writer, since.Round(time.Second), len(r.failed.Rows)-r.written))
			r.failed, r.written = Batch{}, 0
		} else if err := r.write(ctx); err != nil {
			r.pending = coalesce(r.collect(r.pending))
			return errors.Join(gaveUp, r.bound(err))
		}
	}
	rows := coalesce(r.collect(r.pending))
	r.pending = nil
	if len(rows) > 0 {
		r.seq++
		r.failed, r.written, r.failedAt = Batch{Writer: r.writer, Seq: r.seq, Rows: rows}, 0, r.now()
		if err := r.write(ctx); err != nil {
			return r.bound(errors.Join(gaveUp, err))
		}
	}
	now := r.now().Unix()
	if hour := now - floorMod(now, 3600); hour != r.prunedHour {
		for _, g := range []Granularity{Hour, Day} {
			before := time.Unix(now, 0).Add(-r.cfg.Retention.of(g))
			if err := r.store.PruneHistory(ctx, g, before); err != nil {
				return errors.Join(gaveUp, fmt.Errorf("metering: pruning %s history: %w", g, err))
			}
		}
		r.prunedHour = hour
	}
	return gaveUp
}

// giveUpAfter is how long the Recorder retries a batch before it drops
// it: half of BatchWindow, well before a store may forget the writer's
// record, past which a retry could add what an earlier attempt added.
// Dropping counts a batch's rows at most once; retrying past the window
// could count them twice.
const giveUpAfter = BatchWindow / 2

// write writes r.failed, and forgets it once it is stored. r.flushMu is
// held.
func (r *Recorder) write(ctx context.Context) error {
	b := r.failed
	err := r.store.AddHistory(ctx, b)
	if err == nil {
		r.failed, r.written = Batch{}, 0
		return nil
	}
	if pw := (*PartialWriteError)(nil); errors.As(err, &pw) && pw.Written > r.written {
		r.written = min(pw.Written, len(b.Rows))
	}
	return fmt.Errorf("metering: writing %d history rows (batch %d of writer %s): %w", len(b.Rows), b.Seq, b.Writer, err)
}

// bound drops the rows held past Config.MaxPending — those not
// sent yet first, then the end of the failed batch — and says so in
// err. r.flushMu is held.
func (r *Recorder) bound(err error) error {
	drop := len(r.failed.Rows) + len(r.pending) - r.cfg.MaxPending
	if drop <= 0 {
		return err
	}
	err = fmt.Errorf("%w; %d rows dropped (MaxPending)", err, drop)
	n := min(drop, len(r.pending))
	clear(r.pending[len(r.pending)-n:])
	r.pending = r.pending[:len(r.pending)-n]
	if rest := drop - n; rest > 0 {
		// A prefix of the batch: its retry adds what is left once.
		r.failed.Rows = r.failed.Rows[:len(r.failed.Rows)-rest]
		r.written = min(r.written, len(r.failed.Rows))
	}
	return err
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
// orders them; with q.Limit > 0, the first q.Limit of them. The rows of
// a failed batch count as not written (but those a PartialWriteError
// said were): while a write whose reply was lost is being retried, its
// rows may be counted twice here, never in the store.
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
	held := slices.Concat(r.failed.Rows[r.written:], r.pending)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		held = append(held, sh.closed...)
		sh.each(func(s *slot) bool {
			if s.plan == q.Plan && (keys == nil || keys[s.key]) {
				held = s.appendRows(held)
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
	// With a limit the store returned its first q.Limit rows, up to a
	// last one L, and every row it has before L. Each row at or before L
	// of the merge is then complete here (its stored part is among them,
	// its held part in held), and there are at least q.Limit of them (the
	// store's), so the merge's first q.Limit rows are the right ones.
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = slices.Clip(rows[:q.Limit])
	}
	return rows, nil
}
