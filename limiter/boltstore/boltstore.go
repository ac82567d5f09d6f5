// Package boltstore is a durable limiter.Store in a local file
// (go.etcd.io/bbolt): quota usage survives restarts, and a crash never
// over-admits.
//
// Each Reserve is a committed, fsynced transaction, so a request is
// admitted only after its quota is on disk. With the default lease
// (DefaultLeaseSize units per Reserve, at most 1% of the quota) a crash
// forfeits at most one lease per key; a graceful limiter.Limiter.Close
// gives unused leases back. Concurrent Reserves share transactions
// (bbolt's Batch). Use it with limiter.Config{Prefetch: true} so that
// decisions do not wait for the disk.
//
// One process at a time may open a file; a second Open fails after
// Options.LockTimeout with ErrLocked.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

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

var bucketName = []byte("usage")

var (
	_ limiter.Store      = (*Store)(nil)
	_ limiter.LeaseSizer = (*Store)(nil)
)

// Options configure Open; the zero value is the documented default.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the file; 0 means 1 s.
	LockTimeout time.Duration
	// LeaseSize overrides DefaultLeaseSize (see limiter.Config.LeaseSize).
	LeaseSize int64
}

// Store is a limiter.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	lease int64
}

// Open opens (creating if needed) the store at path. A locked, corrupt or
// unwritable file is an error here, not at the first request.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case err != nil:
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	// Batch coalesces concurrent Reserves into one fsync; a short delay
	// keeps a lone Reserve from waiting bbolt's default 10 ms.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err == nil {
		err = checkWritable(path)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	lease := opts.LeaseSize
	if lease <= 0 {
		lease = DefaultLeaseSize
	}
	return &Store{db: db, lease: lease}, nil
}

// checkWritable catches a file whose permissions forbid writing but that
// root (or an earlier handle) could still open.
func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes the file. Close the Limiter first, so unused leases are
// given back.
func (s *Store) Close() error { return s.db.Close() }

// LeaseSize implements limiter.LeaseSizer.
func (s *Store) LeaseSize() int64 { return s.lease }

// counterKey encodes c so that no two counters share a key and all
// counters of one plan share a prefix: len(plan) plan len(key) key window.
func counterKey(c limiter.Counter) []byte {
	b := make([]byte, 0, 2+len(c.Plan)+2+len(c.Key)+8)
	b = planPrefix(b, c.Plan)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Key)))
	b = append(b, c.Key...)
	return binary.BigEndian.AppendUint64(b, uint64(c.Window))
}

func planPrefix(b []byte, plan string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(plan)))
	return append(b, plan...)
}

func decodeKey(k []byte) (key string, window int64, ok bool) {
	if len(k) < 2 {
		return "", 0, false
	}
	pl := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+pl {
		return "", 0, false // not written by this package
	}
	k = k[2+pl:]
	if len(k) < 2 {
		return "", 0, false
	}
	kl := int(binary.BigEndian.Uint16(k))
	if len(k) != 2+kl+8 {
		return "", 0, false
	}
	return string(k[2 : 2+kl]), int64(binary.BigEndian.Uint64(k[2+kl:])), true
}

func value(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func encode(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func validCounter(c limiter.Counter) error {
	if len(c.Plan) > 0xffff || len(c.Key) > 0xffff {
		return errors.New("boltstore: plan or key ID too long")
	}
	return nil
}

// Reserve implements limiter.Store. It returns once the reservation is on
// disk.
func (s *Store) Reserve(_ context.Context, c limiter.Counter, n, limit int64) (granted, used int64, err error) {
	if err := validCounter(c); err != nil {
		return 0, 0, err
	}
	k := counterKey(c)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		used = value(b.Get(k))
		granted = max(min(n, limit-used), 0)
		if granted == 0 {
			return nil
		}
		used += granted
		return b.Put(k, encode(used))
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
		b := tx.Bucket(bucketName)
		old := b.Get(k)
		if old == nil && fn(0) == 0 {
			return nil
		}
		return b.Put(k, encode(fn(value(old))))
	}))
}

// Usage implements limiter.Store.
func (s *Store) Usage(_ context.Context, c limiter.Counter) (int64, error) {
	if err := validCounter(c); err != nil {
		return 0, err
	}
	var used int64
	err := s.db.View(func(tx *bolt.Tx) error {
		used = value(tx.Bucket(bucketName).Get(counterKey(c)))
		return nil
	})
	return used, s.wrap(err)
}

// PlanUsage implements limiter.Store.
func (s *Store) PlanUsage(_ context.Context, plan string, window int64) (map[string]int64, error) {
	out := map[string]int64{}
	prefix := planPrefix(nil, plan)
	err := s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketName).Cursor()
		for k, v := cur.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = cur.Next() {
			if key, w, ok := decodeKey(k); ok && w == window {
				out[key] = value(v)
			}
		}
		return nil
	})
	return out, s.wrap(err)
}

func (s *Store) wrap(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return limiter.ErrStoreClosed
	}
	return err
}
