package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt means the file at the path given to Open exists but is not
// a complete, valid planguard state file: empty, truncated, damaged, or
// written by another program. Open refuses it rather than start with no
// recorded usage; the error says which check failed.
var ErrCorrupt = errors.New("boltstore: not a valid planguard state file")

// corrupt returns an ErrCorrupt for path that says what was found and
// what to do.
func corrupt(path, found string) error {
	return fmt.Errorf("%w: %s: %s. Restore it from a backup; or, to start with no recorded usage, "+
		"move it away and start again (a missing file is created)", ErrCorrupt, path, found)
}

// bbolt's meta page, as bbolt writes it (native byte order): a 16-byte
// page header, then magic, version, page size, flags (uint32 each), the
// root bucket (page, sequence), the freelist page, the high-water page,
// the transaction ID, and an FNV-64a checksum of all that.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderLen   = 16
	metaLen         = 64
	noFreelist      = ^uint64(0)
	minPageSize     = 512
	maxPageSize     = 1 << 16
	metaChecksumEnd = 56
)

type meta struct {
	pageSize                   uint64
	root, freelist, pgid, txid uint64
}

// readMeta decodes the meta page at off in f, or reports why it is not
// one.
func readMeta(f io.ReaderAt, off int64) (meta, bool) {
	b := make([]byte, pageHeaderLen+metaLen)
	if _, err := f.ReadAt(b, off); err != nil {
		return meta{}, false
	}
	m := b[pageHeaderLen:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:metaChecksumEnd])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[metaChecksumEnd:]) != h.Sum64() {
		return meta{}, false
	}
	return meta{
		pageSize: uint64(ne.Uint32(m[8:])),
		root:     ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:]),
	}, true
}

// preflight checks, before bbolt maps the file, that its newest valid
// meta page describes a file that is all there: bbolt would otherwise
// read past its end (SIGBUS) or start an empty file afresh. It reports a
// bad file with corrupt (each kind of file gives its own advice).
func preflight(path string, corrupt func(path, found string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	size := uint64(fi.Size())
	if size == 0 {
		return corrupt(path, "the file is empty (0 bytes)")
	}
	var best meta
	found := false
	m0, ok0 := readMeta(f, 0)
	offsets := []int64{int64(os.Getpagesize()), 4096}
	if ok0 {
		best, found = m0, true
		offsets = []int64{int64(m0.pageSize)}
	}
	for _, off := range offsets {
		if m1, ok := readMeta(f, off); ok && (!found || m1.txid > best.txid) {
			best, found = m1, true
		}
	}
	switch {
	case !found:
		return corrupt(path, fmt.Sprintf("no valid bbolt meta page (%d bytes)", size))
	case best.pageSize < minPageSize || best.pageSize > maxPageSize || best.pageSize&(best.pageSize-1) != 0:
		return corrupt(path, fmt.Sprintf("page size %d", best.pageSize))
	case best.pgid < 3 || best.pgid > size/best.pageSize:
		return corrupt(path, fmt.Sprintf("the file is truncated: %d bytes, %d needed", size, best.pgid*best.pageSize))
	case best.root < 2 || best.root >= best.pgid || best.freelist != noFreelist && (best.freelist < 2 || best.freelist >= best.pgid):
		return corrupt(path, "its meta page points outside the file")
	}
	if best.freelist != noFreelist {
		// bbolt frees the freelist's pages, every one its overflow count
		// says it spans, at each commit: a damaged count would have the
		// first write run out of memory.
		var h [pageHeaderLen]byte
		if _, err := f.ReadAt(h[:], int64(best.freelist*best.pageSize)); err != nil {
			return fmt.Errorf("boltstore: %w", err)
		}
		if overflow := uint64(binary.NativeEndian.Uint32(h[12:])); best.freelist+overflow >= best.pgid {
			return corrupt(path, fmt.Sprintf("its freelist (page %d) spans %d more pages, past the file's %d", best.freelist, overflow, best.pgid))
		}
	}
	return nil
}

// pagesFit reports, before bbolt's consistency check runs on tx, what
// is wrong if the pages tx's buckets reach, overflow pages included,
// add up to more than the file holds. Tx.Check marks each page a page's
// overflow count says it spans in a map, and a commit frees them the
// same way, so one damaged count (a 4-byte field in a page header) would
// have the process run out of memory instead of refusing the file.
// Bucket.Stats walks the same pages and only adds the counts up.
func pagesFit(tx *bolt.Tx) string {
	pages := tx.Size() / int64(tx.DB().Info().PageSize)
	s := tx.Cursor().Bucket().Stats() // the root bucket: every bucket in the file
	counts := []int{s.BranchPageN, s.BranchOverflowN, s.LeafPageN, s.LeafOverflowN}
	var reached int64 = 2 // the meta pages
	for _, n := range counts {
		if n < 0 { // a count past the int of a 32-bit platform
			return "a page's overflow count is damaged"
		}
		reached += int64(n)
	}
	if reached > pages {
		return fmt.Sprintf("its buckets reach %d pages, past the file's %d: a page's overflow count is damaged", reached, pages)
	}
	return ""
}

func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// validate checks that db is a planguard state file of this format, that
// every counter decodes and passes its checksum, and bbolt's own
// consistency check (tx.Check: every page reachable or free, keys in
// order).
func validate(path string, db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(headerBucket)
		if hb == nil {
			return corrupt(path, "it has no planguard header (another program's bbolt file?)")
		}
		if f := hb.Get(formatKey); !bytes.Equal(f, formatValue()) {
			if len(f) == len(formatMagic)+1 && string(f[:len(formatMagic)]) == formatMagic {
				return fmt.Errorf("boltstore: %s: state file format %d; this build reads format %d (use the planguard version that wrote it)", path, f[len(formatMagic)], formatVersion)
			}
			return corrupt(path, "its planguard header is damaged")
		}
		ub := tx.Bucket(usageBucket)
		if ub == nil {
			return corrupt(path, "it has no usage bucket")
		}
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !bytes.Equal(name, headerBucket) && !bytes.Equal(name, usageBucket) && !bytes.Equal(name, historyBucket) {
				return corrupt(path, fmt.Sprintf("unexpected bucket %q", name))
			}
			return nil
		}); err != nil {
			return err
		}
		n := 0
		if err := ub.ForEach(func(k, v []byte) error {
			n++
			if _, _, _, ok := decodeKey(k); !ok || v == nil {
				return corrupt(path, fmt.Sprintf("counter %d has a malformed key", n))
			}
			if _, err := decodeValue(k, v); err != nil {
				return corrupt(path, fmt.Sprintf("counter %d fails its checksum", n))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := validateHistory(path, tx.Bucket(historyBucket)); err != nil {
			return err
		}
		if problem := pagesFit(tx); problem != "" {
			return corrupt(path, problem)
		}
		var first error
		for err := range tx.Check() { // drain: Check runs until it is done
			if first == nil {
				first = corrupt(path, "bbolt's consistency check failed: "+err.Error())
			}
		}
		return first
	})
}
