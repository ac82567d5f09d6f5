// Package journaltest is the conformance suite of usageplan.Journal: every
// engine runs it on itself, so that a registry in managed mode behaves
// the same on each.
//
//	func TestJournal(t *testing.T) {
//		journaltest.Run(t, func(t *testing.T) usageplan.Journal { return newEmptyJournal(t) })
//	}
//
// Engines that several processes share (Redis) also run RunShared, which
// gives each contender a client of its own. The open function a suite is
// given is called from the test's goroutines one call at a time: it need
// not be safe for concurrent use, but the journals it returns must be.
//
// The suite expects of every engine what the interface documents, and
// these choices the interface leaves open, which all planguard engines
// make alike:
//
//   - Append of revision 0 is an error; Read with a limit below 1 is an
//     error.
//   - Compact drops the entries it folds: a Read from before the
//     checkpoint fails with usageplan.ErrCompacted.
//   - Compact at a revision after the last one is an error.
//   - Appended and read bytes are copies: changing them afterwards
//     changes nothing stored.
//   - After Close, Append, Read, Wait, Checkpoint and Compact return an
//     error, and a Wait in progress returns.
package journaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/usageplan"
)

// Rounds is how many revisions the race tests contend for.
const Rounds = 1000

// Racers is how many goroutines (or clients) contend for each revision.
const Racers = 4

// guard bounds a call that the suite expects to return: an engine that
// hangs fails the test instead of the test binary. It is not a time the
// suite waits for.
const guard = 30 * time.Second

// Run runs the suite on the journals open returns: each call of open
// returns a new, empty journal, which the engine closes at the end of t
// (t.Cleanup); the suite closes some itself, so Close must tolerate a
// second call.
func Run(t *testing.T, open func(t *testing.T) usageplan.Journal) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, open(t)) })
	t.Run("AppendRead", func(t *testing.T) { testAppendRead(t, open(t)) })
	t.Run("OutOfDate", func(t *testing.T) { testOutOfDate(t, open(t)) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, open(t)) })
	t.Run("LargeEntries", func(t *testing.T) { testLarge(t, open(t)) })
	t.Run("Race", func(t *testing.T) {
		j := open(t)
		clients := make([]usageplan.Journal, Racers)
		for i := range clients {
			clients[i] = j
		}
		testRace(t, clients)
	})
	t.Run("Wait", func(t *testing.T) {
		j := open(t)
		testWait(t, j, j)
	})
	t.Run("WaitHonoursContext", func(t *testing.T) { testWaitContext(t, open(t)) })
	t.Run("Compact", func(t *testing.T) {
		j := open(t)
		testCompact(t, j, j)
	})
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

// RunShared runs the suite's tests that need several clients of one
// journal: open returns n clients of a new, empty journal, each as
// another instance of a fleet would hold it (its own connections), and
// closes them at the end of t.
func RunShared(t *testing.T, open func(t *testing.T, n int) []usageplan.Journal) {
	t.Run("RaceClients", func(t *testing.T) { testRace(t, open(t, Racers)) })
	t.Run("WaitOtherClient", func(t *testing.T) {
		c := open(t, 2)
		testWait(t, c[0], c[1])
	})
	t.Run("CompactOtherClient", func(t *testing.T) {
		c := open(t, 2)
		testCompact(t, c[0], c[1])
	})
	t.Run("CloseOneClient", func(t *testing.T) {
		c := open(t, 2)
		ctx := context.Background()
		mustAppend(t, c[0], 1, "one")
		if err := c[0].Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		mustAppend(t, c[1], 2, "two")
		expectEntries(t, c[1], 0, 10, 1, "one", "two")
		if err := c[0].Append(ctx, 3, []byte("three")); err == nil {
			t.Fatal("Append on a closed client succeeded")
		}
	})
}

func ctxGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, j usageplan.Journal, rev uint64, data string) {
	t.Helper()
	if err := j.Append(ctxGuard(t), rev, []byte(data)); err != nil {
		t.Fatalf("Append(%d, %q): %v", rev, data, err)
	}
}

// expectEntries reads after `after` and expects the revisions from
// `first` on with data want.
func expectEntries(t *testing.T, j usageplan.Journal, after uint64, limit int, first uint64, want ...string) {
	t.Helper()
	got, err := j.Read(ctxGuard(t), after, limit)
	if err != nil {
		t.Fatalf("Read(%d, %d): %v", after, limit, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Read(%d, %d): %d entries %s, want %d", after, limit, len(got), describe(got), len(want))
	}
	for i, e := range got {
		if e.Revision != first+uint64(i) || string(e.Data) != want[i] {
			t.Fatalf("Read(%d, %d): entry %d is revision %d %q, want revision %d %q",
				after, limit, i, e.Revision, e.Data, first+uint64(i), want[i])
		}
	}
}

func describe(es []usageplan.JournalEntry) string {
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "[%d %.20q]", e.Revision, e.Data)
	}
	return b.String()
}

func testEmpty(t *testing.T, j usageplan.Journal) {
	ctx := ctxGuard(t)
	expectEntries(t, j, 0, 10, 1)
	rev, state, err := j.Checkpoint(ctx)
	if err != nil || rev != 0 || len(state) != 0 {
		t.Fatalf("Checkpoint of an empty journal: %d, %q, %v; want 0, none, nil", rev, state, err)
	}
	if _, err := j.Read(ctx, 0, 0); err == nil {
		t.Fatal("Read with limit 0 succeeded; want an error")
	}
	if _, err := j.Read(ctx, 0, -1); err == nil {
		t.Fatal("Read with limit -1 succeeded; want an error")
	}
}

func testAppendRead(t *testing.T, j usageplan.Journal) {
	want := []string{"one", "two", "", "four", "five"}
	for i, d := range want {
		mustAppend(t, j, uint64(i+1), d)
	}
	expectEntries(t, j, 0, 10, 1, want...)
	expectEntries(t, j, 0, 5, 1, want...)
	expectEntries(t, j, 0, 2, 1, "one", "two")
	expectEntries(t, j, 2, 2, 3, "", "four")
	expectEntries(t, j, 4, 10, 5, "five")
	expectEntries(t, j, 5, 10, 6)
	mustAppend(t, j, 6, "six")
	expectEntries(t, j, 5, 10, 6, "six")
}

func testOutOfDate(t *testing.T, j usageplan.Journal) {
	ctx := ctxGuard(t)
	if err := j.Append(ctx, 0, []byte("zero")); err == nil {
		t.Fatal("Append of revision 0 succeeded")
	}
	if err := j.Append(ctx, 2, []byte("early")); !errors.Is(err, usageplan.ErrOutOfDate) {
		t.Fatalf("Append(2) on an empty journal: %v; want ErrOutOfDate", err)
	}
	mustAppend(t, j, 1, "first")
	for _, rev := range []uint64{1, 3, 100} {
		if err := j.Append(ctx, rev, []byte("late")); !errors.Is(err, usageplan.ErrOutOfDate) {
			t.Fatalf("Append(%d) with the journal at 1: %v; want ErrOutOfDate", rev, err)
		}
	}
	mustAppend(t, j, 2, "second")
	expectEntries(t, j, 0, 10, 1, "first", "second")
}

func testCopies(t *testing.T, j usageplan.Journal) {
	ctx := ctxGuard(t)
	b := []byte("original")
	if err := j.Append(ctx, 1, b); err != nil {
		t.Fatal(err)
	}
	copy(b, "CHANGED!")
	got, err := j.Read(ctx, 0, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Read: %v, %v", got, err)
	}
	copy(got[0].Data, "changed!")
	expectEntries(t, j, 0, 1, 1, "original")
	s := []byte("state")
	if err := j.Compact(ctx, 1, s); err != nil {
		t.Fatal(err)
	}
	copy(s, "STATE")
	_, state, err := j.Checkpoint(ctx)
	if err != nil || string(state) != "state" {
		t.Fatalf("Checkpoint: %q, %v; want %q", state, err, "state")
	}
}

func testLarge(t *testing.T, j usageplan.Journal) {
	ctx := ctxGuard(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := j.Append(ctx, 1, big); err != nil {
		t.Fatal(err)
	}
	got, err := j.Read(ctx, 0, 1)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, big) {
		t.Fatalf("Read of a 1 MiB entry: %d entries, %v", len(got), err)
	}
	state := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<20) // 4 MiB, binary
	if err := j.Compact(ctx, 1, state); err != nil {
		t.Fatal(err)
	}
	rev, s, err := j.Checkpoint(ctx)
	if err != nil || rev != 1 || !bytes.Equal(s, state) {
		t.Fatalf("Checkpoint of 4 MiB: revision %d, %d bytes, %v", rev, len(s), err)
	}
}

// testRace has each client (one goroutine each) append Rounds revisions,
// each round all at once: exactly one wins each revision, the others get
// ErrOutOfDate, and the journal holds the winners' entries, no others.
func testRace(t *testing.T, clients []usageplan.Journal) {
	ctx := ctxGuard(t)
	winners := make([]int, Rounds+1)
	var start [Rounds + 1]chan struct{}
	for r := range start {
		start[r] = make(chan struct{})
	}
	type result struct {
		rev    uint64
		client int
		err    error
	}
	results := make(chan result, len(clients))
	var wg sync.WaitGroup
	for c, j := range clients {
		wg.Go(func() {
			for rev := uint64(1); rev <= Rounds; rev++ {
				<-start[rev]
				err := j.Append(ctx, rev, fmt.Appendf(nil, "rev %d by %d", rev, c))
				results <- result{rev, c, err}
			}
		})
	}
	for rev := uint64(1); rev <= Rounds; rev++ {
		close(start[rev])
		won := 0
		for range clients {
			r := <-results
			switch {
			case r.rev != rev:
				t.Fatalf("result for revision %d during round %d", r.rev, rev)
			case r.err == nil:
				won++
				winners[rev] = r.client
			case !errors.Is(r.err, usageplan.ErrOutOfDate):
				t.Fatalf("revision %d, client %d: %v; want nil or ErrOutOfDate", rev, r.client, r.err)
			}
		}
		if won != 1 {
			t.Fatalf("revision %d: %d winners, want exactly 1", rev, won)
		}
	}
	wg.Wait()
	var got []usageplan.JournalEntry
	for after := uint64(0); ; {
		es, err := clients[0].Read(ctx, after, 300)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		got = append(got, es...)
		after = es[len(es)-1].Revision
	}
	if len(got) != Rounds {
		t.Fatalf("the journal holds %d entries after %d rounds", len(got), Rounds)
	}
	for i, e := range got {
		rev := uint64(i + 1)
		if want := fmt.Sprintf("rev %d by %d", rev, winners[rev]); e.Revision != rev || string(e.Data) != want {
			t.Fatalf("entry %d: revision %d %q, want revision %d %q", i, e.Revision, e.Data, rev, want)
		}
	}
}

// testWait has waiter wait while appender appends.
func testWait(t *testing.T, appender, waiter usageplan.Journal) {
	ctx := ctxGuard(t)
	mustAppend(t, appender, 1, "one")
	if err := waiter.Wait(ctx, 0); err != nil { // revision 1 is there
		t.Fatalf("Wait(0) with revision 1 in the journal: %v", err)
	}
	for rev := uint64(2); rev <= 20; rev++ {
		done := make(chan error, 1)
		go func() { done <- waitFor(ctx, waiter, rev-1) }()
		mustAppend(t, appender, rev, fmt.Sprint(rev))
		if err := <-done; err != nil {
			t.Fatalf("waiting for revision %d: %v", rev, err)
		}
	}
}

// waitFor waits until j holds a revision after `after`, as a follower
// does: Wait, then Read (Wait may return early).
func waitFor(ctx context.Context, j usageplan.Journal, after uint64) error {
	for {
		if err := j.Wait(ctx, after); err != nil {
			return err
		}
		es, err := j.Read(ctx, after, 1)
		if err != nil {
			return err
		}
		if len(es) == 1 {
			if es[0].Revision != after+1 {
				return fmt.Errorf("read revision %d after %d", es[0].Revision, after)
			}
			return nil
		}
	}
}

func testWaitContext(t *testing.T, j usageplan.Journal) {
	mustAppend(t, j, 1, "one")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v; want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- waitFor(ctx, j, 1) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait cancelled while waiting: %v; want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("Wait did not return after its context was cancelled")
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := waitFor(ctx, j, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past its deadline: %v; want context.DeadlineExceeded", err)
	}
}

// testCompact compacts through a and reads through b.
func testCompact(t *testing.T, a, b usageplan.Journal) {
	ctx := ctxGuard(t)
	for rev := uint64(1); rev <= 10; rev++ {
		mustAppend(t, a, rev, fmt.Sprint(rev))
	}
	if err := a.Compact(ctx, 11, []byte("future")); err == nil {
		t.Fatal("Compact after the last revision succeeded")
	}
	if err := a.Compact(ctx, 5, []byte("state at 5")); err != nil {
		t.Fatal(err)
	}
	expectCheckpoint(t, b, 5, "state at 5")
	expectEntries(t, b, 5, 10, 6, "6", "7", "8", "9", "10")
	for _, after := range []uint64{0, 3, 4} {
		if es, err := b.Read(ctx, after, 10); !errors.Is(err, usageplan.ErrCompacted) {
			t.Fatalf("Read(%d) after a checkpoint at 5: %s, %v; want ErrCompacted", after, describe(es), err)
		}
	}
	if err := b.Compact(ctx, 3, []byte("state at 3")); err != nil {
		t.Fatalf("Compact older than the checkpoint: %v; want nil (ignored)", err)
	}
	expectCheckpoint(t, a, 5, "state at 5")
	if err := a.Compact(ctx, 10, []byte("state at 10")); err != nil {
		t.Fatal(err)
	}
	expectCheckpoint(t, b, 10, "state at 10")
	expectEntries(t, b, 10, 10, 11)
	if err := b.Append(ctx, 10, []byte("again")); !errors.Is(err, usageplan.ErrOutOfDate) {
		t.Fatalf("Append(10) after a checkpoint at 10: %v; want ErrOutOfDate", err)
	}
	done := make(chan error, 1)
	go func() { done <- waitFor(ctx, b, 10) }()
	mustAppend(t, a, 11, "11")
	if err := <-done; err != nil {
		t.Fatalf("waiting after the checkpoint: %v", err)
	}
	expectEntries(t, b, 10, 10, 11, "11")
	if _, err := b.Read(ctx, 9, 10); !errors.Is(err, usageplan.ErrCompacted) {
		t.Fatalf("Read(9) after a checkpoint at 10: %v; want ErrCompacted", err)
	}
}

func expectCheckpoint(t *testing.T, j usageplan.Journal, rev uint64, state string) {
	t.Helper()
	r, s, err := j.Checkpoint(ctxGuard(t))
	if err != nil || r != rev || string(s) != state {
		t.Fatalf("Checkpoint: %d, %q, %v; want %d, %q", r, s, err, rev, state)
	}
}

func testClose(t *testing.T, j usageplan.Journal) {
	ctx := ctxGuard(t)
	mustAppend(t, j, 1, "one")
	waiting := make(chan error, 1)
	go func() { waiting <- waitFor(ctx, j, 1) }()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waiting:
		if err == nil {
			t.Fatal("a Wait in progress returned nil at Close with nothing appended")
		}
	case <-time.After(guard):
		t.Fatal("a Wait in progress did not return after Close")
	}
	if err := j.Append(ctx, 2, []byte("two")); err == nil {
		t.Error("Append after Close succeeded")
	}
	if _, err := j.Read(ctx, 0, 10); err == nil {
		t.Error("Read after Close succeeded")
	}
	if err := j.Wait(ctx, 0); err == nil {
		t.Error("Wait after Close succeeded")
	}
	if _, _, err := j.Checkpoint(ctx); err == nil {
		t.Error("Checkpoint after Close succeeded")
	}
	if err := j.Compact(ctx, 1, nil); err == nil {
		t.Error("Compact after Close succeeded")
	}
	_ = j.Close() // a second Close must not panic
}

// Benchmark measures an engine's throughput: Append, one revision after
// another from one goroutine (each b.N is one committed entry), and Read,
// 100 entries per call (each b.N is one call). Entries are 200 bytes, the
// size of a typical change.
func Benchmark(b *testing.B, open func(b *testing.B) usageplan.Journal) {
	entry := bytes.Repeat([]byte("x"), 200)
	ctx := context.Background()
	b.Run("Append", func(b *testing.B) {
		j := open(b)
		b.ReportAllocs()
		rev := uint64(0)
		for b.Loop() {
			rev++
			if err := j.Append(ctx, rev, entry); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Read100", func(b *testing.B) {
		j := open(b)
		const held = 1000
		for rev := uint64(1); rev <= held; rev++ {
			if err := j.Append(ctx, rev, entry); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		after := uint64(0)
		for b.Loop() {
			es, err := j.Read(ctx, after, 100)
			if err != nil || len(es) != 100 {
				b.Fatalf("Read(%d): %d entries, %v", after, len(es), err)
			}
			after = (after + 100) % held
		}
	})
}
