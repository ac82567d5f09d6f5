// Package boltstore is a durable limiter.Store in a local file
// (go.etcd.io/bbolt): quota usage survives restarts, and a crash never
// over-admits.
//
// Each Reserve that grants units is a committed, fsynced transaction, so
// a request is admitted only after its quota is on disk. With the default
// lease (DefaultLeaseSize units per Reserve, at most 1% of the quota) a
// crash forfeits at most one lease per key; a graceful
// limiter.Limiter.Close gives unused leases back. Concurrent Reserves
// share transactions (bbolt's Batch). Use it with
// limiter.Config{Prefetch: true} so that decisions do not wait for the
// disk. A Reserve that grants nothing (a spent quota) reads and writes
// nothing to disk, and a Limiter refuses a spent key from memory.
//
// Open creates the file only when asked to (Config.Create) and only
// when it does not exist: a missing file is otherwise an error, so that
// a wrong path never starts quota afresh. An existing file
// must be a complete planguard state file: Open checks all of it (the
// format header, every counter's checksum, and bbolt's consistency
// check) and refuses anything else with ErrCorrupt — an empty,
// truncated or damaged file is never taken for a new one. A file written
// by an earlier planguard (format 0, without checksums) is converted once.
//
// The store implements limiter.Pruner: a Limiter deletes a plan's
// counters of the periods before the previous one as periods end, so the
// file stops growing (bbolt reuses the freed pages).
//
// One process at a time may open a file; a second Open fails after
// Config.LockTimeout with ErrLocked.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/planguard/planguard/limiter"
)

// DefaultLeaseSize is the lease a Limiter takes from this store when its
// Config.LeaseSize is 0: the most a crash can forfeit per key. The
// Limiter also caps a lease at 1% of the plan's quota
// (limiter.MaxLeaseShare), so plans with quotas under 100,000 get
// proportionally smaller leases.
const DefaultLeaseSize = 1000

// ErrLocked means another process holds the file.
var ErrLocked = errors.New("boltstore: file is locked by another process")

var (
	_ limiter.Store      = (*Store)(nil)
	_ limiter.LeaseSizer = (*Store)(nil)
	_ limiter.Pruner     = (*Store)(nil)
)

// Config configures Open; the zero value is the documented default.
type Config struct {
	// LockTimeout is how long Open waits for another process to release
	// the file; 0 means 1 s.
	LockTimeout time.Duration
	// Create makes Open create the file when none exists. Without it, a
	// missing file is an error (wrapping fs.ErrNotExist): a mistyped
	// path or a volume that is not mounted never starts every key's
	// quota afresh.
	Create bool
	// Now is the clock that dates the history batches applied: a
	// writer's record is kept metering.BatchWindow after its last batch;
	// nil means time.Now. It must be safe for concurrent use.
	Now func() time.Time
}

// Store is a limiter.Store in a bbolt file. It is safe for concurrent use.
// The zero Store is not usable: open one with Open, and Close it.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
}

// Open opens the store at path. With cfg.Create it creates the file if
// (and only if) none exists there; without it, a missing file is an error
// that wraps fs.ErrNotExist. A locked, corrupt (ErrCorrupt) or unwritable
// file is an error here, not at the first request. Open reads the whole file to
// check it, which takes about a second per million counters.
func Open(path string, cfg Config) (*Store, error) {
	db, err := stateFile.openFile(path, cfg.LockTimeout, cfg.Create)
	if err != nil {
		return nil, err
	}
	// Batch coalesces concurrent Reserves into one fsync; a short delay
	// keeps a lone Reserve from waiting bbolt's default 10 ms.
	db.MaxBatchDelay = time.Millisecond
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, path: path, now: now}, nil
}

// Close closes the file. Close the Limiter first, so unused leases are
// given back.
func (s *Store) Close() error { return s.db.Close() }

// LeaseSize implements limiter.LeaseSizer: DefaultLeaseSize. The lease
// is set in one place, limiter.Config.LeaseSize; this is its default
// for a Limiter on this store.
func (s *Store) LeaseSize() int64 { return DefaultLeaseSize }

func validCounter(c limiter.Counter) error {
	if len(c.Plan) > 0xffff || 2+len(c.Plan)+8+len(c.Key) > bolt.MaxKeySize {
		return errors.New("boltstore: plan and key IDs too long")
	}
	return nil
}

// Reserve implements limiter.Store. It returns once the reservation is on
// disk; a Reserve that grants nothing writes nothing.
func (s *Store) Reserve(_ context.Context, c limiter.Counter, n, limit int64) (granted, used int64, err error) {
	if err := validCounter(c); err != nil {
		return 0, 0, err
	}
	k := counterKey(c)
	err = s.db.View(func(tx *bolt.Tx) error {
		used, err = decodeValue(k, tx.Bucket(usageBucket).Get(k))
		return err
	})
	if err != nil || used >= limit || n <= 0 {
		return 0, used, s.wrap(err)
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(usageBucket)
		var err error
		if used, err = decodeValue(k, b.Get(k)); err != nil {
			return err
		}
		granted = max(min(n, limit-used), 0)
		if granted == 0 {
			return nil
		}
		used += granted
		return b.Put(k, encodeValue(k, used))
	})
	if err != nil {
		return 0, 0, s.wrap(err)
	}
	return granted, used, nil
}

// Release implements limiter.Store.
func (s *Store) Release(_ context.Context, c limiter.Counter, n int64) error {
	return s.update(c, func(used int64) int64 { return max(used-n, 0) })
}

// SetUsage implements limiter.Store.
func (s *Store) SetUsage(_ context.Context, c limiter.Counter, used int64) error {
	return s.update(c, func(int64) int64 { return max(used, 0) })
}

func (s *Store) update(c limiter.Counter, fn func(int64) int64) error {
	if err := validCounter(c); err != nil {
		return err
	}
	k := counterKey(c)
	return s.wrap(s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(usageBucket)
		old := b.Get(k)
		used, err := decodeValue(k, old)
		if err != nil {
			return err
		}
		if old == nil && fn(0) == 0 {
			return nil
		}
		return b.Put(k, encodeValue(k, fn(used)))
	}))
}

// Usage implements limiter.Store.
func (s *Store) Usage(_ context.Context, c limiter.Counter) (int64, error) {
	if err := validCounter(c); err != nil {
		return 0, err
	}
	var used int64
	k := counterKey(c)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		used, err = decodeValue(k, tx.Bucket(usageBucket).Get(k))
		return err
	})
	return used, s.wrap(err)
}

// PlanUsage implements limiter.Store. It reads only plan's counters of
// window (one range of the file).
func (s *Store) PlanUsage(_ context.Context, plan string, window int64) (map[string]int64, error) {
	out := map[string]int64{}
	prefix := windowPrefix(nil, plan, window)
	err := s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(usageBucket).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			used, err := decodeValue(k, v)
			if err != nil {
				return err
			}
			out[string(k[len(prefix):])] = used
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	return out, nil
}

// pruneBatch bounds the counters deleted by one transaction.
const pruneBatch = 10_000

// Prune implements limiter.Pruner: it deletes plan's counters whose
// window is before `before`, except Total counters (window 0), in
// transactions of at most pruneBatch counters.
func (s *Store) Prune(_ context.Context, plan string, before int64) error {
	if len(plan) > 0xffff {
		return errors.New("boltstore: plan ID too long")
	}
	if err := s.pruneRange(plan, math.MinInt64, min(before, 0)); err != nil {
		return err
	}
	return s.pruneRange(plan, 1, before)
}

// pruneRange deletes plan's counters with from <= window < to.
func (s *Store) pruneRange(plan string, from, to int64) error {
	if from >= to {
		return nil
	}
	start, end := windowPrefix(nil, plan, from), windowPrefix(nil, plan, to)
	for {
		var keys [][]byte
		err := s.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(usageBucket).Cursor()
			for k, _ := cur.Seek(start); k != nil && bytes.Compare(k, end) < 0 && len(keys) < pruneBatch; k, _ = cur.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return s.wrap(err)
		}
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(usageBucket)
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || len(keys) < pruneBatch {
			return s.wrap(err)
		}
		start = keys[len(keys)-1]
	}
}

func (s *Store) wrap(err error) error {
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return limiter.ErrStoreClosed
	case errors.Is(err, errBadCounter):
		return corrupt(s.path, "a counter fails its checksum")
	}
	return err
}
