package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// fileKind is what sets the package's two kinds of bbolt file apart:
// the quota state file (Open) and the journal (OpenJournal). Both are
// opened, checked and created the same way, by openFile.
type fileKind struct {
	// noun names the file before its path in errors ("opening journal
	// /x"), label before a missing file's error ("boltstore: journal:
	// stat /x: ..."); both are "" for the state file.
	noun, label string
	// createdBy is the Config field that creates a missing file.
	createdBy string
	// format is the header's format value; bucket is the bucket a new
	// file holds beside the header.
	format func() []byte
	bucket []byte
	// corrupt reports a bad file (each kind gives its own advice);
	// check checks an opened file (and may convert it), reporting a bad
	// one with corrupt.
	corrupt func(path, found string) error
	check   func(path string, db *bolt.DB) error
}

// stateFile is the quota state file.
var stateFile = &fileKind{
	createdBy: "Config.Create",
	format:    formatValue,
	bucket:    usageBucket,
	corrupt:   corrupt,
	check: func(path string, db *bolt.DB) error {
		if err := migrate(path, db); err != nil {
			return err
		}
		return validate(path, db)
	},
}

// journalFile is the journal.
var journalFile = &fileKind{
	noun:      "journal ",
	label:     "journal: ",
	createdBy: "JournalConfig.Create",
	format:    journalFormatValue,
	bucket:    entriesBucket,
	corrupt:   journalCorrupt,
	check:     validateJournal,
}

// openFile opens the file of kind k at path, creating it first if create
// is set and no file exists there, and checks all of it (preflight, then
// k.check) before returning it. A file that another process holds past
// lockTimeout (0 means 1 s) is ErrLocked; one that is not writable is an
// error.
func (k *fileKind) openFile(path string, lockTimeout time.Duration, create bool) (*bolt.DB, error) {
	timeout := lockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return nil, fmt.Errorf("boltstore: %s%w (%s creates it)", k.label, err, k.createdBy)
	case errors.Is(err, fs.ErrNotExist):
		if err := k.create(path, timeout); err != nil {
			return nil, fmt.Errorf("boltstore: creating %s%s: %w", k.noun, path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("boltstore: %w", err)
	case fi.IsDir():
		return nil, fmt.Errorf("boltstore: %s is a directory", path)
	}
	if err := preflight(path, k.corrupt); err != nil {
		return nil, err
	}
	db, err := k.openChecked(path, &bolt.Options{Timeout: timeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, k.corrupt(path, err.Error())
	case err != nil && !errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("boltstore: opening %s%s: %w", k.noun, path, err)
	case err != nil:
		return nil, err
	}
	if err := checkWritable(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	return db, nil
}

// openChecked opens path with bbolt and checks all of it (k.check).
// bbolt panics on some damaged pages, and a damaged page can point
// outside the mapped file: both become ErrCorrupt here, not a crash.
func (k *fileKind) openChecked(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				closeQuietly(db)
			}
			db, err = nil, k.corrupt(path, fmt.Sprintf("reading it failed: %v", p))
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, err
	}
	if err := k.check(path, db); err != nil {
		closeQuietly(db)
		return nil, err
	}
	return db, nil
}

// create makes a new, empty file of kind k at path: it is written whole
// under a temporary name and linked into place, so that a crash never
// leaves a partial file at path, and a file created meanwhile by another
// Open or OpenJournal is kept.
func (k *fileKind) create(path string, timeout time.Duration) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		hb, err := tx.CreateBucket(headerBucket)
		if err != nil {
			return err
		}
		if err := hb.Put(formatKey, k.format()); err != nil {
			return err
		}
		_, err = tx.CreateBucket(k.bucket)
		return err
	})
	if err = errors.Join(err, db.Close()); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another Open created it first: open that one
		}
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		_ = d.Sync()
		d.Close()
	}
	return nil
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
