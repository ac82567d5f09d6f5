package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/limiter"
)

const corruptCounters = 3000

func corruptCounter(i int) limiter.Counter {
	return limiter.Counter{Plan: "usagePlan-corrupt1", Key: fmt.Sprintf("AKID%036d", i), Window: 1_700_006_400}
}

// writeStateFile makes a real state file holding corruptCounters
// counters (counter i has usage i+1, so none is 0), spread over many
// pages.
func writeStateFile(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range corruptCounters {
		if _, _, err := s.Reserve(ctx, corruptCounter(i), int64(i+1), 1e9); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// openAndRead opens path and reads every counter back. It returns
// "corrupt" for ErrCorrupt, "intact" when the file opened and every
// count is right, and anything else as a failure.
func openAndRead(path string) string {
	s, err := Open(path, Config{Create: true})
	switch {
	case errors.Is(err, ErrCorrupt):
		if !strings.Contains(err.Error(), "move it away") {
			return "ErrCorrupt without advice: " + err.Error()
		}
		return "corrupt"
	case err != nil:
		return "other error: " + err.Error()
	}
	defer s.Close()
	for i := range corruptCounters {
		used, err := s.Usage(ctx, corruptCounter(i))
		if err != nil || used != int64(i+1) {
			return fmt.Sprintf("opened, counter %d reads %d, %v", i, used, err)
		}
	}
	return "intact"
}

// TestOpenRefusesDamagedFiles damages real state files: cut to 0 bytes
// (bbolt would start a new, empty database), cut to 8 KiB (bbolt maps
// past the end: SIGBUS), a counter's bytes zeroed (bbolt reads usage 0),
// every page in turn overwritten with random bytes (bbolt panics on some),
// zeroed, or with its overflow count damaged (bbolt's check ran out of
// memory). Each is opened in a child process, so that a crash is a
// failure that is reported, not the end of the test binary. Every file
// must be refused with ErrCorrupt or, where only unused (free) pages were
// hit, open with every count intact.
// withOverflow returns a copy of a file's bytes with the overflow count
// of the page at off (bytes 12 to 15 of its header) set to 2^31-1.
func withOverflow(data []byte, off int) []byte {
	b := bytes.Clone(data)
	binary.NativeEndian.PutUint32(b[off+12:], 1<<31-1)
	return b
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	if dir := os.Getenv(damagedEnv); dir != "" {
		damagedChild(dir)
		return
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	writeStateFile(t, good)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustBeCorrupt := map[string]bool{}
	corruptCase := func(name string, b []byte) { write(name, b); mustBeCorrupt[name] = true }

	corruptCase("empty.db", nil)
	corruptCase("cut8k.db", data[:8192])
	corruptCase("cut-half.db", data[:len(data)/2/pageSize*pageSize])
	// Zero one counter's usage and checksum, then only its usage.
	v := encodeValue(counterKey(corruptCounter(1234)), 1235)
	at := bytes.Index(data, v)
	if at < 0 {
		t.Fatal("counter not found in the file")
	}
	zeroed := bytes.Clone(data)
	clear(zeroed[at : at+len(v)])
	corruptCase("zero-counter.db", zeroed)
	zeroed = bytes.Clone(data)
	clear(zeroed[at : at+8])
	corruptCase("zero-usage.db", zeroed)
	// Every page in use (below bbolt's high-water mark) in turn.
	m, ok := readMeta(bytes.NewReader(data), int64(pageSize))
	if !ok {
		t.Fatal("no meta page")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for p := 0; p < int(m.pgid); p++ {
		b := bytes.Clone(data)
		page := b[p*pageSize : (p+1)*pageSize]
		for i := range page {
			page[i] = byte(rng.UintN(256))
		}
		write(fmt.Sprintf("garbage-page%03d.db", p), b)
		b = bytes.Clone(data)
		clear(b[p*pageSize : (p+1)*pageSize])
		write(fmt.Sprintf("zero-page%03d.db", p), b)
		write(fmt.Sprintf("overflow-page%03d.db", p), withOverflow(data, p*pageSize))
	}
	// One page header's overflow count (4 bytes) set to 2^31-1: bbolt's
	// consistency check, and a commit, mark every page it says the page
	// spans, and ran out of memory. The leaf page of counter 1234, and
	// the freelist's page.
	corruptCase("overflow-leaf.db", withOverflow(data, at/pageSize*pageSize))
	current := m // the newer of the two meta pages names the freelist
	if m0, ok := readMeta(bytes.NewReader(data), 0); ok && m0.txid > m.txid {
		current = m0
	}
	corruptCase("overflow-freelist.db", withOverflow(data, int(current.freelist)*pageSize))
	// Both meta pages garbled: no valid meta.
	b := bytes.Clone(data)
	for i := range 2 * pageSize {
		b[i] = byte(rng.UintN(256))
	}
	corruptCase("garbage-metas.db", b)

	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenRefusesDamagedFiles$")
	cmd.Env = append(os.Environ(), damagedEnv+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the child crashed or failed: %v\n%s\nits output:\n%s", err, stderrOf(err), out)
	}
	results := map[string]string{}
	for line := range strings.Lines(string(out)) {
		name, result, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok && strings.HasSuffix(name, ".db") {
			results[name] = result
		}
	}
	counts := map[string]int{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if name == "good.db" || !strings.HasSuffix(name, ".db") {
			continue
		}
		r, ok := results[name]
		switch {
		case !ok:
			t.Errorf("%s: no result from the child", name)
		case r != "corrupt" && r != "intact":
			t.Errorf("%s: %s", name, r)
		case r == "intact" && mustBeCorrupt[name]:
			t.Errorf("%s: opened, want ErrCorrupt", name)
		}
		counts[r]++
	}
	t.Logf("%d pages of %d bytes in use; results: %v", m.pgid, pageSize, counts)
	if counts["corrupt"] < len(mustBeCorrupt)+3 {
		t.Errorf("only %d damaged files refused", counts["corrupt"])
	}
}

const damagedEnv = "BOLTSTORE_DAMAGED_DIR"

func damagedChild(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for _, e := range entries {
		if name := e.Name(); name != "good.db" && strings.HasSuffix(name, ".db") {
			fmt.Println(name + ": " + openAndRead(filepath.Join(dir, name)))
		}
	}
	os.Exit(0)
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		s := string(ee.Stderr)
		if len(s) > 2000 {
			s = s[:2000]
		}
		return s
	}
	return ""
}

// TestOpenCreatesOnlyMissingFiles: a missing file is created (with its
// header, so it opens again); an existing file is never re-initialised.
func TestOpenCreatesOnlyMissingFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	s, err := Open(path, Config{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, limiter.Counter{Plan: "p", Key: "k"}, 5, 10); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := openAndReadOne(path); r != 5 {
		t.Fatalf("reopened: usage %d, want 5", r)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.new-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Config{Create: true}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: %v, want ErrCorrupt saying it is empty", err)
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Fatalf("the empty file was written: %d bytes", fi.Size())
	}
}

func openAndReadOne(path string) int64 {
	s, err := Open(path, Config{Create: true})
	if err != nil {
		return -1
	}
	defer s.Close()
	u, err := s.Usage(ctx, limiter.Counter{Plan: "p", Key: "k"})
	if err != nil {
		return -1
	}
	return u
}

// A counter damaged while the store is open is an error at the next read
// or write, never a silent 0.
func TestDamagedCounterIsAnError(t *testing.T) {
	s, _ := openTemp(t)
	c := limiter.Counter{Plan: "p", Key: "k", Window: 7}
	if _, _, err := s.Reserve(ctx, c, 5, 10); err != nil {
		t.Fatal(err)
	}
	k := counterKey(c)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(usageBucket).Put(k, make([]byte, valueLen)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Usage(ctx, c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Usage: %v", err)
	}
	if _, _, err := s.Reserve(ctx, c, 1, 10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Reserve: %v", err)
	}
	if err := s.Release(ctx, c, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Release: %v", err)
	}
	if _, err := s.PlanUsage(ctx, "p", 7); !errors.Is(err, ErrCorrupt) {
		t.Errorf("PlanUsage: %v", err)
	}
}
