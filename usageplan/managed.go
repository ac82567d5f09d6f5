package usageplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// OpenManaged returns a registry kept in j (managed mode): every change
// made through it is appended to j at the next revision before it is
// applied, and the changes other registries append to j are applied in
// revision order. Two registries on one journal thus hold the same
// revisions; when both change at once, the second finds that another
// change came first, applies it, and validates and appends its own again
// on the result, so that together they never break a rule (the
// exclusivity of plans, say) that each checks alone.
//
// OpenManaged applies what j holds before it returns, then follows j
// until Close. While j cannot be read the registry keeps serving its last
// snapshot; Status reports the error and since when. Changes made then
// fail with the journal's error: nothing is applied that j does not hold.
//
// A registry that needs revisions the journal compacted away (a new
// instance, or one that was away while another called Checkpoint) starts
// from the journal's checkpoint, then applies the revisions after it.
func OpenManaged(ctx context.Context, j Journal, cfg RegistryConfig) (*Registry, error) {
	if j == nil {
		return nil, errors.New("usageplan: OpenManaged: nil journal")
	}
	r := NewRegistry(cfg)
	fctx, cancel := context.WithCancel(context.Background())
	r.managed = &follower{r: r, j: j, cancel: cancel, done: make(chan struct{})}
	if err := r.managed.catchUp(ctx); err != nil {
		cancel()
		return nil, err
	}
	go r.managed.follow(fctx)
	return r, nil
}

// Close stops a managed registry from following its journal (it does not
// close the journal); its last snapshot stays readable. Close of a
// registry that OpenManaged did not return does nothing.
func (r *Registry) Close() error {
	if r.managed == nil {
		return nil
	}
	r.managed.cancel()
	<-r.managed.done
	return nil
}

// Sync applies every revision the journal holds now, and returns once
// the registry holds them: after Sync, a change committed anywhere before
// it was called is in the registry's snapshot. It does nothing for a
// registry that OpenManaged did not return.
func (r *Registry) Sync(ctx context.Context) error {
	if r.managed == nil {
		return nil
	}
	return r.managed.catchUp(ctx)
}

// JournalStatus is how a managed registry follows its journal.
type JournalStatus struct {
	// Revision is the registry's revision.
	Revision uint64
	// Head is the newest revision the registry has seen in its journal
	// (read from it, or committed to it), at least Revision: the
	// registry lags Head-Revision revisions behind what it read. It
	// catches up as it reads, so a lag that lasts means a record it
	// cannot apply (Err says why: an instance run with lower ceilings
	// than the one that made the change, say). It reads up to 512
	// revisions at a time, so a registry stuck further behind reports
	// 512.
	Head uint64
	// Lagging is the time of the oldest revision the registry read and
	// could not apply (its record's time), the zero Time when it lags
	// none or is only catching up: now minus Lagging is the lag, in time.
	Lagging time.Time
	// Err is the last error reading or applying the journal, nil once
	// that succeeds again; Since is when the errors began. While the
	// journal cannot be read, Head is what the registry saw last.
	Err   error
	Since time.Time
}

// Status reports how the registry follows its journal; the zero
// JournalStatus but for Revision and Head for a registry that
// OpenManaged did not return.
func (r *Registry) Status() JournalStatus {
	st := JournalStatus{Revision: r.Snapshot().revision}
	st.Head = st.Revision
	if f := r.managed; f != nil {
		f.mu.Lock()
		st.Err, st.Since = f.err, f.since
		if f.head > st.Revision {
			st.Head = f.head
			if f.laggingRev == st.Revision+1 {
				st.Lagging = f.lagging
			}
		}
		f.mu.Unlock()
	}
	return st
}

// journalAppend appends rec to the journal of a managed registry, unless
// rec came from it. r.mu is held.
func (r *Registry) journalAppend(ctx context.Context, at commitAt, rec Record) error {
	if r.managed == nil || at.fromJournal {
		return nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := r.managed.j.Append(ctx, rec.Revision, data); err != nil {
		if errors.Is(err, ErrOutOfDate) {
			return err
		}
		return fmt.Errorf("usageplan: journal: revision %d not written: %w", rec.Revision, err)
	}
	return nil
}

// follower applies a journal's records to a managed registry.
type follower struct {
	r      *Registry
	j      Journal
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	err   error
	since time.Time
	head  uint64 // the newest revision read
	// lagging is the time of revision laggingRev, which could not be
	// applied: the oldest the registry lags while head is ahead of it.
	lagging    time.Time
	laggingRev uint64
}

// readBatch is how many records one journal read asks for.
const readBatch = 512

// followRetry bounds the wait before reading an unreachable journal
// again.
const followRetry = 250 * time.Millisecond

// follow applies new records until ctx ends, waiting for them in between.
func (f *follower) follow(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		if err := f.catchUp(ctx); err != nil {
			// Unreachable: try again shortly, serving the last
			// snapshot meanwhile (Status reports it).
			t := time.NewTimer(followRetry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		if err := f.j.Wait(ctx, f.r.Snapshot().revision); err != nil && ctx.Err() == nil {
			f.failed(err)
			t := time.NewTimer(followRetry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// catchUp applies every record the journal holds after the registry's
// revision.
func (f *follower) catchUp(ctx context.Context) error {
	for {
		rev := f.r.Snapshot().revision
		entries, err := f.j.Read(ctx, rev, readBatch)
		if errors.Is(err, ErrCompacted) {
			if err := f.restore(ctx, rev); err != nil {
				f.failed(err)
				return err
			}
			continue
		}
		if err != nil {
			f.failed(err)
			return err
		}
		// The failure is over once the entries read are applied: an
		// entry that fails again leaves Status's Since at the first
		// failure (clearing it after the read restarted it each retry).
		if len(entries) > 0 {
			f.read(entries[len(entries)-1].Revision)
		}
		for _, e := range entries {
			if err := f.apply(ctx, e); err != nil {
				return err
			}
		}
		f.failed(nil)
		if len(entries) == 0 {
			return nil
		}
	}
}

// read notes that the journal holds revision rev.
func (f *follower) read(rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head = max(f.head, rev)
}

// stuck notes that revision rev, of time at, could not be applied: the
// next one, so the oldest the registry lags (at is kept from its first
// failure).
func (f *follower) stuck(rev uint64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.laggingRev != rev {
		f.lagging, f.laggingRev = at, rev
	}
}

// apply applies one journal entry, unless another goroutine of this
// registry applied it first.
func (f *follower) apply(ctx context.Context, e JournalEntry) error {
	var rec Record
	if err := json.Unmarshal(e.Data, &rec); err != nil {
		err = fmt.Errorf("usageplan: journal revision %d: %w", e.Revision, err)
		f.failed(err)
		f.stuck(e.Revision, f.r.opts.now()) // its time cannot be read
		return err
	}
	if rec.Revision != e.Revision || len(rec.Changes) == 0 {
		err := fmt.Errorf("usageplan: journal revision %d holds a record of revision %d with %d changes", e.Revision, rec.Revision, len(rec.Changes))
		f.failed(err)
		f.stuck(e.Revision, rec.Time)
		return err
	}
	_, err := f.r.commit(ctx, commitAt{time: rec.Time, revision: rec.Revision, fromJournal: true},
		func(*Snapshot) ([]Change, error) { return rec.Changes, nil })
	if err != nil && errors.Is(err, ErrOutOfDate) && f.r.Snapshot().revision >= rec.Revision {
		return nil // applied meanwhile
	}
	if err != nil {
		err = fmt.Errorf("usageplan: applying journal revision %d: %w", rec.Revision, err)
		f.failed(err)
		f.stuck(e.Revision, rec.Time)
	}
	return err
}

// failed records the outcome of reading the journal: nil once it
// succeeds.
func (f *follower) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		f.err, f.since = nil, time.Time{}
	case f.err == nil:
		f.err, f.since = err, f.r.opts.now()
	default:
		f.err = err
	}
}

// Checkpoint stores the registry's state at its revision as the
// journal's checkpoint (Journal.Compact), so that a new instance starts
// from it instead of replaying every revision, and returns the revision.
// The journal may then drop the entries up to it. Any instance may call
// it, at any time (after a number of revisions, say); it fails for a
// registry that OpenManaged did not return.
func (r *Registry) Checkpoint(ctx context.Context) (uint64, error) {
	if r.managed == nil {
		return 0, errors.New("usageplan: Checkpoint: the registry has no journal (see OpenManaged)")
	}
	snap := r.Snapshot()
	if snap.revision == 0 {
		return 0, nil
	}
	// The state is the record of the changes that make it from nothing.
	rec := Record{Revision: snap.revision, Time: r.opts.now(), Changes: diff(emptySnapshot(), snap.model())}
	data, err := marshalCheckpoint(rec)
	if err != nil {
		return 0, err
	}
	if err := r.managed.j.Compact(ctx, snap.revision, data); err != nil {
		return 0, fmt.Errorf("usageplan: checkpoint at revision %d: %w", snap.revision, err)
	}
	return snap.revision, nil
}

func emptySnapshot() *Snapshot { return compile(&state{routes: map[string]routeTable{}}, nil, 0) }

// restore replaces the registry's state with the journal's checkpoint,
// which is newer than rev, the revision the registry is at.
func (f *follower) restore(ctx context.Context, rev uint64) error {
	ck, data, err := f.j.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("usageplan: reading the journal's checkpoint: %w", err)
	}
	if ck <= rev {
		return fmt.Errorf("usageplan: the journal compacted the revisions after %d, but its checkpoint is at revision %d: %w", rev, ck, ErrCompacted)
	}
	rec, err := unmarshalCheckpoint(data)
	if err != nil {
		return fmt.Errorf("usageplan: the journal's checkpoint at revision %d: %w", ck, err)
	}
	if rec.Revision != ck {
		return fmt.Errorf("usageplan: the journal's checkpoint at revision %d holds revision %d", ck, rec.Revision)
	}
	_, next, err := f.r.prepare(emptySnapshot(), rec.Changes, rec.Time)
	if err != nil {
		return fmt.Errorf("usageplan: the journal's checkpoint at revision %d: %w", ck, err)
	}
	next.revision = ck
	r := f.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.Load().revision < ck {
		r.cur.Store(next)
		r.logMu.Lock()
		r.log.restart(ck)
		r.logMu.Unlock()
	}
	return nil
}
