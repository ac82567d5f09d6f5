package usageplan

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// RegistryConfig configures a Registry. The zero value is the documented default.
type RegistryConfig struct {
	// MaxQPS widens the QPS ceiling (requests per second per key);
	// 0 means DefaultMaxQPS. It cannot lower it.
	MaxQPS int64
	// MaxQuota widens the quota ceiling (requests per period per key);
	// 0 means DefaultMaxQuota.
	MaxQuota int64
	// MaxBurst widens the burst ceiling (requests in a bucket at once,
	// per key); 0 means DefaultMaxBurst.
	MaxBurst int64
	// Now stamps created and modified times; nil means time.Now. It is
	// called from every goroutine that changes the registry (and from a
	// managed registry's follower), so it must be safe for concurrent
	// use.
	Now func() time.Time
	// Rand generates IDs and keys; nil means crypto/rand.Reader. The
	// registry reads it under a lock of its own, one caller at a time,
	// so it need not be safe for concurrent use (a seeded math/rand/v2
	// source makes IDs repeatable in tests).
	Rand io.Reader
	// LookupEnv resolves a key's secretEnv when loading a config; nil
	// means os.LookupEnv. Loads may run concurrently, so it must be safe
	// for concurrent use.
	LookupEnv func(string) (string, bool)
	// ChangeLog is how many changes the registry keeps for Changes (the
	// records of its last revisions, whole); 0 means DefaultChangeLog,
	// a negative value keeps none.
	ChangeLog int
}

// DefaultChangeLog is the number of changes a registry keeps by default.
const DefaultChangeLog = 10_000

func (o RegistryConfig) changeLogLimit() int {
	switch {
	case o.ChangeLog == 0:
		return DefaultChangeLog
	case o.ChangeLog < 0:
		return 0
	}
	return o.ChangeLog
}

func (o RegistryConfig) ceilings() ceilings {
	return ceilings{qps: max(o.MaxQPS, DefaultMaxQPS), quota: max(o.MaxQuota, DefaultMaxQuota), burst: max(o.MaxBurst, DefaultMaxBurst)}
}

func (o RegistryConfig) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// rand returns the registry's source of randomness: RegistryConfig.Rand
// read under r.randMu, or crypto/rand.Reader, which is safe for
// concurrent use.
func (r *Registry) rand() io.Reader {
	if r.opts.Rand == nil {
		return rand.Reader
	}
	return lockedReader{mu: &r.randMu, r: r.opts.Rand}
}

// lockedReader reads r holding mu.
type lockedReader struct {
	mu *sync.Mutex
	r  io.Reader
}

func (l lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Registry owns services, keys, plans and bindings. Every change is a
// typed Change applied with Apply (the other mutators are helpers over
// it), validated against every rule (IDs, names, limits, bindings and
// the exclusivity of plans) and applied atomically as one new revision:
// a refused change leaves nothing behind. Readers take a Snapshot, which
// never blocks and never shows a half-applied change. Changes lists the
// applied changes after a revision.
//
// A Registry is safe for concurrent use. Changes are serialised. The
// zero Registry is not usable: build one with NewRegistry, LoadConfig
// or OpenManaged.
type Registry struct {
	opts   RegistryConfig
	randMu sync.Mutex // serialises reads of opts.Rand
	mu     sync.Mutex // serialises writers
	cur    atomic.Pointer[Snapshot]

	logMu sync.Mutex
	log   changeLog

	resetMu    sync.Mutex
	resetters  []UsageResetter
	forgetting chan struct{} // holds a token while deleted keys' usage is forgotten (see forgetLock)
	// unforgotten holds the deleted keys whose usage is still to be
	// forgotten, each with the snapshot it was deleted from: marked
	// before the deletion is published, and cleared once a resetter
	// forgot it, after the deletion or before a key with the same ID is
	// added (see forgetDeleted, forgetAdded).
	unforgotten map[string]*Snapshot

	// Set by OpenManaged: the journal every change goes through.
	managed *follower
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg RegistryConfig) *Registry {
	r := &Registry{opts: cfg, unforgotten: map[string]*Snapshot{}, forgetting: make(chan struct{}, 1)}
	r.log.limit = cfg.changeLogLimit()
	r.cur.Store(compile(&state{routes: map[string]routeTable{}}, nil, 0))
	return r
}

// Snapshot returns the current state. It never blocks.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Apply applies changes, in order, as one new revision and returns it:
// all of them or, on the first refusal or any rule the result breaks,
// none. Keys that the changes delete have their consumed quota forgotten
// once the changes are made (see ResetUsageWith). Applying no change returns the current
// revision and changes nothing. Refusals match a sentinel of this
// package (ErrNotFound, ErrExists, ErrInUse, ErrInvalidState,
// ErrConflict, ErrInvalid) with errors.Is. The registry keeps copies of
// the changes in its log (see Changes).
func (r *Registry) Apply(ctx context.Context, changes ...Change) (uint64, error) {
	changes = slices.Clone(changes)
	for i, c := range changes {
		changes[i] = cloneChange(c)
	}
	return r.commit(ctx, commitAt{}, func(*Snapshot) ([]Change, error) { return changes, nil })
}

// ApplyRecord applies a record another registry made (read from a
// Journal, say) as this registry's next revision, at the record's time,
// so that both hold the same state afterwards. The record's revision
// must be the next one (ErrOutOfDate otherwise: the registry is not at
// rec.Revision-1), and the record must hold a change.
func (r *Registry) ApplyRecord(ctx context.Context, rec Record) error {
	if len(rec.Changes) == 0 {
		return refuse("change", "", ErrInvalid, fmt.Sprintf("revision %d holds no change", rec.Revision))
	}
	changes := make([]Change, len(rec.Changes))
	for i, c := range rec.Changes {
		changes[i] = cloneChange(c)
	}
	_, err := r.commit(ctx, commitAt{time: rec.Time, revision: rec.Revision}, func(*Snapshot) ([]Change, error) { return changes, nil })
	return err
}

// commitAt fixes the time of a revision and its number; zero values
// mean now and the next one.
type commitAt struct {
	time     time.Time
	revision uint64
	// fromJournal marks a record read from the registry's journal: it
	// is applied, not appended again.
	fromJournal bool
}

func (a commitAt) now(opts RegistryConfig) time.Time {
	if a.time.IsZero() {
		return opts.now()
	}
	return a.time
}

// commit applies the changes build makes from the current snapshot as
// one revision. build may run more than once. The usage of the keys it
// deletes is forgotten once the deletion is published (see
// forgetDeleted), and that of keys it adds whose usage was not
// forgotten yet before (see forgetAdded).
func (r *Registry) commit(ctx context.Context, at commitAt, build func(cur *Snapshot) ([]Change, error)) (uint64, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// The changes are made and validated without the lock, on the
		// current snapshot, and published under it only if no other
		// change came first: a large change (a reload) never holds up
		// the others for longer than publishing takes.
		snap := r.Snapshot()
		changes, err := build(snap)
		if err != nil {
			return 0, err
		}
		if len(changes) == 0 {
			return snap.revision, nil
		}
		if at.revision != 0 && at.revision != snap.revision+1 {
			return 0, fmt.Errorf("usageplan: revision %d cannot follow revision %d: %w", at.revision, snap.revision, ErrOutOfDate)
		}
		now := at.now(r.opts)
		tx, next, err := r.prepare(snap, changes, now)
		if err != nil {
			return 0, err
		}
		if err := readdedRefused(tx, at); err != nil {
			return 0, err
		}
		if err := r.forgetAdded(ctx, tx, at.fromJournal); err != nil {
			return 0, err
		}
		if attempt < optimisticAttempts {
			r.mu.Lock()
			if r.cur.Load() == snap {
				rec := Record{Revision: snap.revision + 1, Time: now, Changes: changes}
				err := r.journalAppend(ctx, at, rec)
				if err == nil {
					r.publishDeleting(next, rec, snap, tx)
				}
				r.mu.Unlock()
				switch {
				case err == nil:
					r.forgetDeleted(ctx, tx, at.fromJournal)
					return rec.Revision, nil
				case !errors.Is(err, ErrOutOfDate):
					return 0, err
				}
				// Another instance came first: catch up, then make the
				// changes again on what it did.
				if err := r.managed.catchUp(ctx); err != nil {
					return 0, err
				}
			} else {
				r.mu.Unlock()
			}
			continue // another change came first: make these again on it
		}
		// Under a stream of other changes: make them under the lock.
		rev, retry, err := r.publishChanges(ctx, at, build)
		if !retry {
			return rev, err
		}
		if errors.Is(err, ErrOutOfDate) {
			if err := r.managed.catchUp(ctx); err != nil {
				return 0, err
			}
		}
	}
}

// optimisticAttempts is how many times commit makes a change without the
// lock before it takes the lock to make it.
const optimisticAttempts = 3

// publishDeleting is publish for the changes of tx, made on snap: the
// keys tx deletes are first marked as keys whose usage is to be
// forgotten (forgetDeleted does it once r.mu is released), so that a
// change that sees the deletion adds no key with such an ID before its
// usage is forgotten (forgetAdded). r.mu is held.
func (r *Registry) publishDeleting(next *Snapshot, rec Record, snap *Snapshot, tx *txn) {
	if len(tx.deleted) > 0 {
		r.resetMu.Lock()
		for _, id := range tx.deleted {
			r.unforgotten[id] = snap
		}
		r.resetMu.Unlock()
	}
	r.publish(next, rec)
}

// publish stores next as the current snapshot and rec in the change log.
// r.mu is held.
func (r *Registry) publish(next *Snapshot, rec Record) {
	r.cur.Store(next)
	r.logMu.Lock()
	r.log.add(rec)
	r.logMu.Unlock()
}

// publishChanges applies the changes build makes to the current snapshot
// and publishes the result, unless they add a key whose usage is not
// forgotten yet (retry, which forgets it first), or the journal holds a
// newer revision (retry, with ErrOutOfDate).
func (r *Registry) publishChanges(ctx context.Context, at commitAt, build func(cur *Snapshot) ([]Change, error)) (rev uint64, retry bool, err error) {
	r.mu.Lock()
	cur := r.cur.Load()
	var tx *txn
	defer func() {
		r.mu.Unlock()
		if err == nil && tx != nil {
			r.forgetDeleted(ctx, tx, at.fromJournal)
		}
	}()
	changes := []Change(nil)
	if changes, err = build(cur); err != nil || len(changes) == 0 {
		return cur.revision, false, err
	}
	if at.revision != 0 && at.revision != cur.revision+1 {
		return 0, false, fmt.Errorf("usageplan: revision %d cannot follow revision %d: %w", at.revision, cur.revision, ErrOutOfDate)
	}
	now := at.now(r.opts)
	prepared, next, err := r.prepare(cur, changes, now)
	if err != nil {
		return 0, false, err
	}
	if err := readdedRefused(prepared, at); err != nil {
		return 0, false, err
	}
	if !at.fromJournal && r.unforgottenAmong(prepared.added) {
		return 0, true, nil // forgetAdded first, without the lock
	}
	rec := Record{Revision: cur.revision + 1, Time: now, Changes: changes}
	if err := r.journalAppend(ctx, at, rec); err != nil {
		// Another instance came first: the caller catches up and
		// makes the changes again.
		return 0, errors.Is(err, ErrOutOfDate), err
	}
	r.publishDeleting(next, rec, cur, prepared)
	tx = prepared
	return rec.Revision, false, nil
}

// prepare applies changes to snap's state (sharing what they do not
// touch) and validates what they touched, returning the snapshot to
// publish.
func (r *Registry) prepare(snap *Snapshot, changes []Change, now time.Time) (*txn, *Snapshot, error) {
	tx := newTxn(snap.st, now)
	for _, c := range changes {
		if c == nil {
			return nil, nil, refuse("change", "", ErrInvalid, "a nil change")
		}
		if err := c.apply(tx); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.finish(r.opts.ceilings()); err != nil {
		return nil, nil, err
	}
	svcIdx := snap.svcIdx
	if tx.st.svcOwned {
		svcIdx = nil
	}
	return tx, compile(tx.st, svcIdx, snap.revision+1), nil
}

func deletesKeys(changes []Change) bool {
	return slices.ContainsFunc(changes, func(c Change) bool {
		_, ok := c.(KeyDeleted)
		return ok
	})
}

// Changes returns the records of the revisions after revision after, in
// order, and none when there is none newer. The registry keeps the
// records of its last changes (RegistryConfig.ChangeLog); asking for older ones
// returns an error matching ErrCompacted. The records' changes are the
// log's own: read them, do not modify them.
func (r *Registry) Changes(after uint64) ([]Record, error) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.log.after(after)
}

// Key returns the key with the given secret_id from the current
// snapshot.
func (r *Registry) Key(id string) (keys.Key, bool) { return r.Snapshot().Key(id) }

// LookupKey is keys.Lookup over the current snapshot, so that a Registry
// is the signature verifier's lookup (and the middleware's): a disabled
// or deleted key is refused on its next request. See
// Snapshot.LookupKey.
func (r *Registry) LookupKey(ctx context.Context, id string) (keys.Key, error) {
	return r.Snapshot().LookupKey(ctx, id)
}

// sameKey reports whether a and b are the same key apart from their
// times. Secrets are compared by value: a Secret also carries the HMAC
// state it fills on first use, which is no change.
func sameKey(a, b keys.Key) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Secret.Equal(b.Secret) &&
		a.SecretEnv == b.SecretEnv && a.Status == b.Status
}

// samePlan reports whether a and b are the same plan apart from their
// times. A nil and an empty list are the same.
func samePlan(a, b Plan) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description &&
		a.QPS == b.QPS && a.Quota == b.Quota && a.QuotaPeriod == b.QuotaPeriod &&
		a.TimeZone == b.TimeZone &&
		a.Burst == b.Burst && slices.Equal(a.Limits, b.Limits) && maps.Equal(a.Throttles, b.Throttles) && a.DryRun == b.DryRun &&
		slices.Equal(a.Alerts, b.Alerts) &&
		slices.EqualFunc(a.Bindings, b.Bindings, func(x, y binding.Target) bool {
			return x.Service == y.Service && x.Environment == y.Environment && slices.Equal(x.APIs, y.APIs)
		})
}

// UsageResetter forgets the quota a key has consumed. The middleware
// package adapts a limiter to it, and middleware.New registers one with
// the registry it serves.
type UsageResetter interface {
	// ResetKeyUsage forgets the quota key has consumed under every plan
	// of snap, in the current period. It must be safe for concurrent use
	// and return once ctx is done.
	ResetKeyUsage(ctx context.Context, snap *Snapshot, key string) error
}

// SharedUsageResetter is a UsageResetter whose usage every instance of a
// fleet shares (a store on Redis). A managed registry forgets through
// it only the deletions it made, not those it applies from its journal:
// the instance that made a deletion forgot the usage for all, and an
// instance applying the record late could otherwise forget what a key
// added again since with the same ID has used.
type SharedUsageResetter interface {
	UsageResetter
	// SharedUsage reports whether the usage is shared by the fleet.
	SharedUsage() bool
}

// ResetUsageWith makes every key deletion forget the key's consumed
// quota through u, in every plan (a deleted key is bound to no plan, but
// may have been before): a new key that reuses the ID starts afresh.
// Deletion means DeleteKey, and a Load or Apply whose config drops a key.
// The usage is forgotten once the deletion is made, so a deletion
// refused for any reason forgets nothing. If u fails, the deletion
// stands, and the registry remembers the key (in memory: not across a
// restart) until a change adds a key with the same ID, which forgets
// the old usage first and is refused with u's error if it cannot (a
// record of the journal is applied all the same). A key added again
// while its deletion's forget is on its way waits for it. A change that
// deletes a key and adds one with the same ID is refused: make them two
// changes. Forgets run one change at a time; a change waits for
// another's as long as its context allows (its deletion then stands,
// its forget left for later). A managed registry applying a deletion
// from its journal forgets through u too, with a deadline of 10 seconds
// for the record, unless u is a SharedUsageResetter whose usage the
// fleet shares. u must not change the registry. Resetters added more than once are called more than
// once, which is harmless. It is safe for concurrent use.
func (r *Registry) ResetUsageWith(u UsageResetter) {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	r.resetters = append(r.resetters, u)
}

// forgetTimeout bounds a follower's calls of the resetters for a record
// of its journal (all its keys together), whose context has no
// deadline: a resetter that hangs must not stop the follower.
const forgetTimeout = 10 * time.Second

// forgetLock takes the right to forget deleted keys' usage, one change
// at a time, unless ctx ends first (false); a record of the journal
// (fromJournal) waits at most forgetTimeout, for the wait and the calls
// together. unlock gives it back and ends that deadline.
func (r *Registry) forgetLock(ctx context.Context, fromJournal bool) (_ context.Context, unlock func(), ok bool) {
	cancel := func() {}
	if fromJournal {
		ctx, cancel = context.WithTimeout(ctx, forgetTimeout)
	}
	select {
	case r.forgetting <- struct{}{}:
		return ctx, func() { <-r.forgetting; cancel() }, true
	case <-ctx.Done():
		cancel()
		return ctx, nil, false
	}
}

// forget resets the usage of key id, under the plans of snap, through
// every resetter (for a record of the journal, fromJournal, those whose
// usage is not shared by the fleet only). It is called under forgetLock,
// and with no lock held (resetters are user code).
func (r *Registry) forget(ctx context.Context, snap *Snapshot, id string, fromJournal bool) error {
	r.resetMu.Lock()
	rs := slices.Clone(r.resetters)
	r.resetMu.Unlock()
	for _, u := range rs {
		if s, ok := u.(SharedUsageResetter); ok && fromJournal && s.SharedUsage() {
			continue
		}
		if err := u.ResetKeyUsage(ctx, snap, id); err != nil {
			return fmt.Errorf("usageplan: forgetting the usage of key %s: %w", id, err)
		}
	}
	return nil
}

// forgetDeleted forgets the usage of the keys tx deleted, marked by
// publishDeleting, once the deletion is published. Forgetting after the
// deletion, not before, means that a change refused after all (a
// journal that fails, another instance's change first) forgets nothing.
// A key whose usage a resetter fails to forget stays marked, in memory:
// the deletion stands, and a later change that adds a key with the same
// ID forgets it first (forgetAdded).
// The marks are read and the resetters called under forgetLock, so that
// a key added again waits for its deletion's forget still on its way,
// which would otherwise wipe what the new key has used since.
func (r *Registry) forgetDeleted(ctx context.Context, tx *txn, fromJournal bool) {
	if len(tx.deleted) == 0 {
		return
	}
	ctx, unlock, ok := r.forgetLock(ctx, fromJournal)
	if !ok {
		return // the marks stay
	}
	defer unlock()
	for _, id := range tx.deleted {
		_ = r.forgetMarked(ctx, id, fromJournal) // a failure leaves the mark
	}
}

// forgetAdded forgets, before tx is published, the usage of the keys it
// adds whose ID a deletion left marked (see forgetDeleted): a new key
// that reuses an ID starts afresh. If that fails the change is refused,
// unless it is a record of the journal (committed: it is applied, and
// the mark stays).
func (r *Registry) forgetAdded(ctx context.Context, tx *txn, fromJournal bool) error {
	if !r.unforgottenAmong(tx.added) {
		return nil // no forget for them is pending, nor on its way (marks are cleared once it is done)
	}
	ctx, unlock, ok := r.forgetLock(ctx, fromJournal)
	if !ok {
		if fromJournal {
			return nil
		}
		return fmt.Errorf("usageplan: waiting to forget the usage of a deleted key: %w", ctx.Err())
	}
	defer unlock()
	for _, id := range tx.added {
		if err := r.forgetMarked(ctx, id, fromJournal); err != nil && !fromJournal {
			return err
		}
	}
	return nil
}

// forgetMarked forgets the usage of key id if a deletion left it marked,
// and then clears the mark; a failure leaves it. It is called under
// forgetLock.
func (r *Registry) forgetMarked(ctx context.Context, id string, fromJournal bool) error {
	r.resetMu.Lock()
	snap := r.unforgotten[id]
	r.resetMu.Unlock()
	if snap == nil {
		return nil
	}
	if err := r.forget(ctx, snap, id, fromJournal); err != nil {
		return err
	}
	r.forgotten(id, snap)
	return nil
}

// readdedRefused refuses a change, other than a record of the journal,
// that deletes a key and adds one with the same ID: the old key's usage
// would have to be forgotten before the change is made, so also when
// the change is then refused. Delete it, then add it, in two changes.
func readdedRefused(tx *txn, at commitAt) error {
	if at.fromJournal {
		return nil
	}
	if id, ok := tx.readded(); ok {
		return refuse("key", id, ErrInvalid, "key "+id+" is deleted and added again in one change; make them two changes")
	}
	return nil
}

// forgotten takes id out of unforgotten, unless a later deletion put it
// back meanwhile.
func (r *Registry) forgotten(id string, snap *Snapshot) {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	if r.unforgotten[id] == snap {
		delete(r.unforgotten, id)
	}
}

// unforgottenAmong reports whether a key of ids was deleted and its
// usage not forgotten.
func (r *Registry) unforgottenAmong(ids []string) bool {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	for _, id := range ids {
		if r.unforgotten[id] != nil {
			return true
		}
	}
	return false
}
