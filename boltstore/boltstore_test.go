package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/storetest"
)

var ctx = context.Background()

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) limiter.Store { s, _ := openTemp(t); return s })
}

func TestSurvivesRestart(t *testing.T) {
	s, path := openTemp(t)
	l, err := limiter.New(s, limiter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 10}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for range 4 {
		if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil || !d.Allowed {
			t.Fatalf("AllowAt: %+v %v", d, err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if used, _ := s2.Usage(ctx, limiter.Counter{Plan: "p", Key: "k"}); used != 4 {
		t.Fatalf("usage after restart = %d, want 4 (the lease was given back)", used)
	}
	l2, _ := limiter.New(s2, limiter.Config{})
	admitted := 0
	for range 20 {
		if d, _ := l2.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim}); d.Allowed {
			admitted++
		}
	}
	if admitted != 6 {
		t.Fatalf("admitted %d after restart, want 6", admitted)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()

	held, err := Open(filepath.Join(dir, "locked.db"), Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := Open(filepath.Join(dir, "locked.db"), Config{LockTimeout: 50 * time.Millisecond, Create: true}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked file: %v, want ErrLocked", err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("this is not a bolt database, not even close; "+string(make([]byte, 8192))), 0o600)
	if _, err := Open(garbage, Config{Create: true}); err == nil {
		t.Error("corrupt file opened")
	}

	good, _ := Open(filepath.Join(dir, "trunc.db"), Config{Create: true})
	good.Close()
	os.Truncate(filepath.Join(dir, "trunc.db"), 100)
	if _, err := Open(filepath.Join(dir, "trunc.db"), Config{Create: true}); err == nil {
		t.Error("truncated file opened")
	}

	if _, err := Open(dir, Config{Create: true}); err == nil {
		t.Error("a directory opened")
	}
	if _, err := Open(filepath.Join(dir, "missing", "x.db"), Config{Create: true}); err == nil {
		t.Error("a file in a missing directory opened")
	}
	if os.Geteuid() != 0 { // root may write to any file
		ro := filepath.Join(dir, "ro.db")
		s, _ := Open(ro, Config{Create: true})
		s.Close()
		os.Chmod(ro, 0o400)
		if _, err := Open(ro, Config{Create: true}); err == nil {
			t.Error("read-only file opened")
		}
	}
}

func TestClosedStoreErrors(t *testing.T) {
	s, _ := openTemp(t)
	s.Close()
	if _, _, err := s.Reserve(ctx, limiter.Counter{Plan: "p", Key: "k"}, 1, 10); !errors.Is(err, limiter.ErrStoreClosed) {
		t.Fatalf("Reserve on closed store: %v", err)
	}
}

const childEnv = "BOLTSTORE_CRASH_CHILD"

// TestCrashNeverOverAdmits runs a child process that admits requests on
// the store under load (8 goroutines, leases prefetched), reporting each admission on
// stdout, and kills it with SIGKILL part-way. The reopened store must
// have counted every admitted request (never over-admit), and forfeit at
// most one lease.
func TestCrashNeverOverAdmits(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		crashChild(path)
		return
	}
	const quota, lease = 100000, 50
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashNeverOverAdmits$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	admitted := 0
	for admitted < 2000 {
		if _, err := r.ReadByte(); err != nil {
			t.Fatalf("child stopped early after %d: %v", admitted, err)
		}
		admitted++
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for { // what the child wrote before it died was admitted too
		if _, err := r.ReadByte(); err != nil {
			break
		}
		admitted++
	}
	cmd.Wait()

	s, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	used, err := s.Usage(ctx, limiter.Counter{Plan: "p", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("admitted %d, stored %d", admitted, used)
	if used < int64(admitted) {
		t.Fatalf("over-admission: %d admitted but only %d stored", admitted, used)
	}
	if used-int64(admitted) > lease {
		t.Fatalf("forfeited %d > one lease of %d", used-int64(admitted), lease)
	}
}

func crashChild(path string) {
	s, err := Open(path, Config{Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, _ := limiter.New(s, limiter.Config{Prefetch: true, LeaseSize: 50})
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100000}
	var mu sync.Mutex
	w := bufio.NewWriterSize(os.Stdout, 1)
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for n.Add(1) < 100000 {
				if d, err := l.Allow(ctx, limiter.Request{Plan: "p", Key: "k", Limits: lim}); err == nil && d.Allowed {
					mu.Lock()
					w.WriteByte('.')
					w.Flush()
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

func BenchmarkDecision(b *testing.B) {
	lim := limiter.Limits{QPS: 2000, Quota: 99_999_999}
	keys := make([]string, 1000) // few enough that the run turns every lease over several times
	for i := range keys {
		keys[i] = "AKID" + strconv.Itoa(1e9+i)
	}
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) limiter.Store
	}{
		{"memory", func(*testing.B) limiter.Store { return &limiter.MemoryStore{} }},
		{"bolt", func(b *testing.B) limiter.Store {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Config{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := limiter.New(tc.store(b), limiter.Config{Prefetch: true})
			defer func() { b.StopTimer(); l.Close(ctx) }()
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			for _, k := range keys { // existing keys: each holds a lease
				_, _ = l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-bench001", Key: k, Limits: lim})
			}
			b.ReportAllocs()
			b.ResetTimer()
			scatter.Parallel(b, 1, len(keys), func(i int) error {
				_, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-bench001", Key: keys[i], Limits: lim})
				return err
			})
		})
	}
}

func TestDecodeKeyRejectsForeignKeys(t *testing.T) {
	for _, k := range [][]byte{nil, {0}, {0, 9, 'a'}, {0, 1, 'p', 0}, {0, 1, 'p', 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, _, ok := decodeKey(k); ok {
			t.Errorf("decodeKey(%v) accepted", k)
		}
	}
	for _, w := range []int64{0, 42, -1, 1_700_000_000} {
		plan, key, window, ok := decodeKey(counterKey(limiter.Counter{Plan: "p", Key: "k", Window: w}))
		if !ok || plan != "p" || key != "k" || window != w {
			t.Fatalf("round trip of window %d: %q %q %d %v", w, plan, key, window, ok)
		}
	}
}

// Creating a state file or a journal is explicit: without Create, a
// missing file is an error that wraps fs.ErrNotExist, and nothing is
// created (a mistyped path would have started every key's quota afresh).
func TestOpenCreatesOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	if _, err := Open(state, Config{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	journal := filepath.Join(dir, "state.journal")
	if _, err := OpenJournal(journal, JournalConfig{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenJournal of a missing file: %v, want fs.ErrNotExist", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("created %v", entries)
	}
	s, err := Open(state, Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(state, Config{}) // it exists now
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	j, err := OpenJournal(journal, JournalConfig{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, err = OpenJournal(journal, JournalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
}
