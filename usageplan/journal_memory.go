package usageplan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

var _ Journal = (*MemoryJournal)(nil)

// errJournalClosed is returned by a MemoryJournal's calls after Close.
var errJournalClosed = errors.New("usageplan: journal: closed")

// MemoryJournal is a Journal in this process's memory: for tests and for
// a single instance whose changes need not survive it. Compact drops the
// entries it folds into the checkpoint, as the durable engines do. It is
// safe for concurrent use. The zero MemoryJournal is not usable: use
// NewMemoryJournal.
type MemoryJournal struct {
	mu      sync.Mutex
	base    uint64   // the revision before entries[0]: the checkpoint's
	entries [][]byte // entries[i] is revision base+1+i
	ckState []byte
	changed chan struct{} // closed and replaced by every Append and by Close
	closed  bool
}

// NewMemoryJournal returns an empty journal.
func NewMemoryJournal() *MemoryJournal {
	return &MemoryJournal{changed: make(chan struct{})}
}

// head is the last revision; the caller holds mu.
func (j *MemoryJournal) head() uint64 { return j.base + uint64(len(j.entries)) }

// Append implements Journal.
func (j *MemoryJournal) Append(ctx context.Context, rev uint64, entry []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rev == 0 {
		return errors.New("usageplan: journal: revisions start at 1")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errJournalClosed
	}
	if h := j.head(); rev != h+1 {
		return fmt.Errorf("%w (revision %d asked, the journal is at %d)", ErrOutOfDate, rev, h)
	}
	j.entries = append(j.entries, bytes.Clone(entry))
	close(j.changed)
	j.changed = make(chan struct{})
	return nil
}

// Read implements Journal. limit must be positive.
func (j *MemoryJournal) Read(ctx context.Context, after uint64, limit int) ([]JournalEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("usageplan: journal: read limit %d, want at least 1", limit)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, errJournalClosed
	}
	if after < j.base {
		return nil, fmt.Errorf("%w (entries after %d asked, the checkpoint is at %d)", ErrCompacted, after, j.base)
	}
	if after >= j.head() {
		return nil, nil
	}
	src := j.entries[after-j.base:]
	src = src[:min(len(src), limit)]
	out := make([]JournalEntry, len(src))
	for i, e := range src {
		out[i] = JournalEntry{Revision: after + 1 + uint64(i), Data: bytes.Clone(e)}
	}
	return out, nil
}

// Wait implements Journal. It returns an error once the journal is
// closed.
func (j *MemoryJournal) Wait(ctx context.Context, after uint64) error {
	j.mu.Lock()
	closed, newer, changed := j.closed, j.head() > after, j.changed
	j.mu.Unlock()
	switch {
	case closed:
		return errJournalClosed
	case newer:
		return nil
	}
	select {
	case <-changed:
		return nil // an Append, or Close: the caller's next call tells
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Checkpoint implements Journal.
func (j *MemoryJournal) Checkpoint(ctx context.Context) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, nil, errJournalClosed
	}
	return j.base, bytes.Clone(j.ckState), nil
}

// Compact implements Journal: it keeps state and drops the entries up to
// rev.
func (j *MemoryJournal) Compact(ctx context.Context, rev uint64, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.closed:
		return errJournalClosed
	case rev > j.head():
		return fmt.Errorf("usageplan: journal: checkpoint at revision %d, after the last one (%d)", rev, j.head())
	case rev <= j.base:
		return nil // as new as the stored checkpoint, or older
	}
	j.entries = slices.Clone(j.entries[rev-j.base:]) // frees the dropped ones
	j.base, j.ckState = rev, bytes.Clone(state)
	return nil
}

// Close implements Journal. Waits in progress return; Close is
// idempotent, and other calls after it return an error.
func (j *MemoryJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.closed = true
		close(j.changed)
	}
	return nil
}
