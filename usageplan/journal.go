package usageplan

import (
	"context"
	"errors"
)

// A Journal is an ordered log of a registry's changes: the truth of a
// registry in managed mode. Each entry is one applied change, encoded by
// the registry, at a revision that grows by one per entry; every instance
// of a fleet applies the entries in revision order.
//
// The registry owns the encoding; a Journal stores and orders bytes. The
// engines live in the modules of their stores (boltstore for one node,
// redisstore for a fleet).
//
// Implementations must be safe for concurrent use: a registry calls
// Append from the goroutines that apply changes while its follower
// calls Read and Wait.
type Journal interface {
	// Append commits entry as revision rev. If the journal's last
	// revision is not rev-1 (another instance committed first), it
	// commits nothing and returns an error matching ErrOutOfDate: the
	// caller catches up and validates its change again. The check and
	// the write are one atomic step, so that two instances can never
	// both commit the same revision.
	Append(ctx context.Context, rev uint64, entry []byte) error

	// Read returns up to limit entries after revision after, in revision
	// order, and none when the journal holds nothing newer. If the
	// entries just after after were compacted away, it returns an error
	// matching ErrCompacted: the caller starts again from Checkpoint.
	Read(ctx context.Context, after uint64, limit int) ([]JournalEntry, error)

	// Wait returns nil once the journal holds a revision after after,
	// or ctx's error when ctx ends first. It may return nil early (a
	// spurious wake-up); callers Read and Wait again.
	Wait(ctx context.Context, after uint64) error

	// Checkpoint returns the newest compacted state and its revision,
	// or revision 0 and no state when there is none.
	Checkpoint(ctx context.Context) (rev uint64, state []byte, err error)

	// Compact stores state as the registry's state at revision rev
	// (which the journal holds) and may drop the entries up to rev. An
	// older checkpoint than the one stored is ignored.
	Compact(ctx context.Context, rev uint64, state []byte) error

	// Close releases the journal's resources. Calls after Close return
	// an error.
	Close() error
}

// JournalEntry is one change in a Journal.
type JournalEntry struct {
	Revision uint64
	Data     []byte
}

var (
	// ErrOutOfDate is returned by Journal.Append when another change
	// took the revision first.
	ErrOutOfDate = errors.New("usageplan: journal: another change came first")
	// ErrCompacted is returned by Journal.Read when the entries asked
	// for were folded into a checkpoint.
	ErrCompacted = errors.New("usageplan: journal: entries compacted into a checkpoint")
)
