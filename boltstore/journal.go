package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/planguard/planguard/usageplan"
)

var _ usageplan.Journal = (*Journal)(nil)

// Journal is a usageplan.Journal in a bbolt file of its own: the registry
// of one node in managed mode. Each Append is a committed, fsynced
// transaction, so an appended change survives a crash (even SIGKILL or a
// power cut, as far as the disk honours fsync); a crash during an Append
// leaves the journal without that entry, never with part of it.
//
// The journal lives in its own file, not in the quota state file: the two
// have different lives (moving a quota file away starts usage afresh;
// moving a journal away loses the registry), and each file refuses to
// open as the other.
//
// One process at a time holds the file, so Wait is woken from within the
// process. Journal is safe for concurrent use. The zero Journal is not
// usable: open one with OpenJournal, and Close it.
type Journal struct {
	db   *bolt.DB
	path string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced by every Append and by Close
	closed  bool
}

// JournalConfig configures OpenJournal; the zero value is the documented
// default.
type JournalConfig struct {
	// LockTimeout is how long OpenJournal waits for another process to
	// release the file; 0 means 1 s.
	LockTimeout time.Duration
	// Create makes OpenJournal create an empty journal when no file
	// exists. Without it, a missing file is an error (wrapping
	// fs.ErrNotExist): a mistyped path never looks like an empty
	// registry, which a config file would seed.
	Create bool
}

// OpenJournal opens the journal at path. With cfg.Create it creates an
// empty one if (and only if) no file exists there; without it, a missing
// file is an error that wraps fs.ErrNotExist. An existing file must be a complete,
// valid journal: OpenJournal checks all of it (the format header, that
// the entries follow the checkpoint without a gap, every entry's and the
// checkpoint's checksum, and bbolt's consistency check) and refuses
// anything else with ErrCorrupt, including a quota state file. A locked
// file is ErrLocked.
func OpenJournal(path string, cfg JournalConfig) (*Journal, error) {
	db, err := journalFile.openFile(path, cfg.LockTimeout, cfg.Create)
	if err != nil {
		return nil, err
	}
	return &Journal{db: db, path: path, changed: make(chan struct{})}, nil
}

// errJournalClosed is returned by a Journal's calls after Close.
var errJournalClosed = errors.New("boltstore: journal closed")

// wrap turns bbolt's closed-database error into errJournalClosed and a
// failed checksum into ErrCorrupt.
func (j *Journal) wrap(err error) error {
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return errJournalClosed
	case errors.Is(err, errBadEntry):
		return journalCorrupt(j.path, err.Error())
	}
	return err
}

// head returns the last revision in tx and the checkpoint's.
func head(tx *bolt.Tx) (last, checkpoint uint64, err error) {
	checkpoint, _, err = readCheckpoint(tx, false)
	if err != nil {
		return 0, 0, err
	}
	if k, _ := tx.Bucket(entriesBucket).Cursor().Last(); k != nil {
		return binary.BigEndian.Uint64(k), checkpoint, nil
	}
	return checkpoint, checkpoint, nil
}

// Append implements usageplan.Journal; it returns once the entry is on
// disk.
func (j *Journal) Append(ctx context.Context, rev uint64, entry []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rev == 0 {
		return errors.New("boltstore: journal revisions start at 1")
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		last, _, err := head(tx)
		if err != nil {
			return err
		}
		if rev != last+1 {
			return fmt.Errorf("%w (revision %d asked, the journal is at %d)", usageplan.ErrOutOfDate, rev, last)
		}
		k := entryKey(rev)
		return tx.Bucket(entriesBucket).Put(k, encodeEntry(k, entry))
	})
	if err != nil {
		return j.wrap(err)
	}
	j.notify()
	return nil
}

// notify wakes the Waits in progress.
func (j *Journal) notify() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		close(j.changed)
		j.changed = make(chan struct{})
	}
}

// Read implements usageplan.Journal. limit must be positive.
func (j *Journal) Read(ctx context.Context, after uint64, limit int) ([]usageplan.JournalEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("boltstore: journal read limit %d, want at least 1", limit)
	}
	var out []usageplan.JournalEntry
	err := j.db.View(func(tx *bolt.Tx) error {
		ck, _, err := readCheckpoint(tx, false)
		if err != nil {
			return err
		}
		if after < ck {
			return fmt.Errorf("%w (entries after %d asked, the checkpoint is at %d)", usageplan.ErrCompacted, after, ck)
		}
		cur := tx.Bucket(entriesBucket).Cursor()
		want := after + 1
		for k, v := cur.Seek(entryKey(want)); k != nil && len(out) < limit; k, v = cur.Next() {
			data, err := decodeEntry(k, v, want)
			if err != nil {
				return err
			}
			out = append(out, usageplan.JournalEntry{Revision: want, Data: data})
			want++
		}
		return nil
	})
	if err != nil {
		return nil, j.wrap(err)
	}
	return out, nil
}

// Wait implements usageplan.Journal. It returns an error once the journal
// is closed.
func (j *Journal) Wait(ctx context.Context, after uint64) error {
	j.mu.Lock()
	closed, changed := j.closed, j.changed
	j.mu.Unlock()
	if closed {
		return errJournalClosed
	}
	var last uint64
	err := j.db.View(func(tx *bolt.Tx) error {
		var err error
		last, _, err = head(tx)
		return err
	})
	if err != nil {
		return j.wrap(err)
	}
	if last > after {
		return nil
	}
	select {
	case <-changed: // taken before reading the head: no Append is missed
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Checkpoint implements usageplan.Journal.
func (j *Journal) Checkpoint(ctx context.Context) (rev uint64, state []byte, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	err = j.db.View(func(tx *bolt.Tx) error {
		rev, state, err = readCheckpoint(tx, true)
		return err
	})
	if err != nil {
		return 0, nil, j.wrap(err)
	}
	return rev, state, nil
}

// Compact implements usageplan.Journal: in one transaction, it stores the
// checkpoint and deletes the entries up to rev (bbolt reuses their
// pages).
func (j *Journal) Compact(ctx context.Context, rev uint64, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return j.wrap(j.db.Update(func(tx *bolt.Tx) error {
		last, ck, err := head(tx)
		switch {
		case err != nil:
			return err
		case rev > last:
			return fmt.Errorf("boltstore: journal checkpoint at revision %d, after the last one (%d)", rev, last)
		case rev <= ck:
			return nil // as new as the stored checkpoint, or older
		}
		hb := tx.Bucket(headerBucket)
		if err := hb.Put(checkpointKey, encodeCheckpoint(rev, state)); err != nil {
			return err
		}
		b := tx.Bucket(entriesBucket)
		cur := b.Cursor()
		for k, _ := cur.First(); k != nil && binary.BigEndian.Uint64(k) <= rev; k, _ = cur.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Close implements usageplan.Journal: Waits in progress return, and
// calls after Close return an error. A second Close does nothing.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	close(j.changed)
	j.mu.Unlock()
	return j.db.Close()
}
