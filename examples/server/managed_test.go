package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/planguard/planguard/boltstore"
)

// Managed mode's journal on one node is a file of its own beside -state,
// empty until the first change; without -state or -redis there is none.
func TestOpenJournal(t *testing.T) {
	ctx := context.Background()
	if _, _, _, err := openJournal(options{}); err == nil {
		t.Fatal("openJournal without -state or -redis succeeded")
	}
	state := filepath.Join(t.TempDir(), "usage.db")
	j, desc, closeJournal, err := openJournal(options{state: state})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc) != 4 || desc[3] != state+".journal" {
		t.Fatalf("described as %v", desc)
	}
	if empty, err := journalEmpty(ctx, j); err != nil || !empty {
		t.Fatalf("a new journal: empty %v, %v", empty, err)
	}
	if err := j.Append(ctx, 1, []byte("change")); err != nil {
		t.Fatal(err)
	}
	if empty, err := journalEmpty(ctx, j); err != nil || empty {
		t.Fatalf("after a change: empty %v, %v", empty, err)
	}
	if err := j.Compact(ctx, 1, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if empty, err := journalEmpty(ctx, j); err != nil || empty {
		t.Fatalf("after a checkpoint: empty %v, %v", empty, err)
	}
	if err := closeJournal(); err != nil {
		t.Fatal(err)
	}
	// The quota state file given as a journal is refused.
	bs, err := boltstore.Open(state, boltstore.Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	bs.Close()
	if _, err := boltstore.OpenJournal(state, boltstore.JournalConfig{}); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Fatalf("the quota file as a journal: %v; want ErrCorrupt", err)
	}
}
