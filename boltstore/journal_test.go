package boltstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/usageplan"
	"github.com/planguard/planguard/usageplan/journaltest"
)

func openTempJournal(t testing.TB) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.journal")
	j, err := OpenJournal(path, JournalConfig{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

func TestJournalConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) usageplan.Journal { j, _ := openTempJournal(t); return j })
}

func TestJournalSurvivesReopen(t *testing.T) {
	j, path := openTempJournal(t)
	for rev := uint64(1); rev <= 10; rev++ {
		if err := j.Append(ctx, rev, []byte(strconv.FormatUint(rev, 10))); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Compact(ctx, 4, []byte("state at 4")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, err := OpenJournal(path, JournalConfig{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rev, state, err := j.Checkpoint(ctx)
	if err != nil || rev != 4 || string(state) != "state at 4" {
		t.Fatalf("Checkpoint after reopen: %d %q %v", rev, state, err)
	}
	es, err := j.Read(ctx, 4, 100)
	if err != nil || len(es) != 6 || es[0].Revision != 5 || string(es[5].Data) != "10" {
		t.Fatalf("Read after reopen: %v %v", es, err)
	}
	if err := j.Append(ctx, 11, []byte("11")); err != nil {
		t.Fatal(err)
	}
}

func TestJournalLocked(t *testing.T) {
	_, path := openTempJournal(t)
	if _, err := OpenJournal(path, JournalConfig{LockTimeout: 50 * time.Millisecond, Create: true}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenJournal: %v; want ErrLocked", err)
	}
}

// writeJournal makes a closed journal file with 50 entries and a
// checkpoint at 20, and returns its path.
func writeJournal(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "good.journal")
	j, err := OpenJournal(path, JournalConfig{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(1); rev <= 50; rev++ {
		if err := j.Append(ctx, rev, crashEntry(rev)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Compact(ctx, 20, []byte("state at 20")); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// editBolt changes the bbolt file at path in one transaction, as
// another program (or a damaged disk that bbolt does not notice) would.
func editBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// OpenJournal refuses every file that is not a whole, valid journal with
// ErrCorrupt (and says why), including a valid quota state file; Open
// refuses a journal.
func TestOpenJournalRefusesOtherFiles(t *testing.T) {
	good := writeJournal(t)
	dir := t.TempDir()
	_, quotaPath := openTemp(t) // held open: copy it below
	cases := []struct {
		name string
		make func(path string)
		want string
	}{
		{"empty", func(p string) { os.WriteFile(p, nil, 0o600) }, "empty"},
		{"garbage", func(p string) { os.WriteFile(p, bytes.Repeat([]byte("garbage!"), 4096), 0o600) }, "no valid bbolt meta page"},
		{"truncated", func(p string) {
			b, _ := os.ReadFile(good)
			os.WriteFile(p, b[:len(b)/2], 0o600)
		}, "truncated"},
		{"quota state file", func(p string) { copyFile(t, quotaPath, p) }, "quota state file, not a journal"},
		{"another program's bbolt file", func(p string) {
			editBolt(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
		}, "no planguard header"},
		{"flipped byte in an entry", func(p string) {
			copyFile(t, good, p)
			editBolt(t, p, func(tx *bolt.Tx) error {
				b := tx.Bucket(entriesBucket)
				v := bytes.Clone(b.Get(entryKey(33)))
				v[3] ^= 1
				return b.Put(entryKey(33), v)
			})
		}, "revision 33 is missing or fails its checksum"},
		{"missing entry", func(p string) {
			copyFile(t, good, p)
			editBolt(t, p, func(tx *bolt.Tx) error { return tx.Bucket(entriesBucket).Delete(entryKey(40)) })
		}, "revision 40 is missing"},
		{"entry before the checkpoint", func(p string) {
			copyFile(t, good, p)
			editBolt(t, p, func(tx *bolt.Tx) error {
				k := entryKey(20)
				return tx.Bucket(entriesBucket).Put(k, encodeEntry(k, []byte("old")))
			})
		}, "revision 21 is missing"},
		{"damaged checkpoint", func(p string) {
			copyFile(t, good, p)
			editBolt(t, p, func(tx *bolt.Tx) error {
				hb := tx.Bucket(headerBucket)
				v := bytes.Clone(hb.Get(checkpointKey))
				v[10] ^= 0x40
				return hb.Put(checkpointKey, v)
			})
		}, "checkpoint fails its checksum"},
		{"extra bucket", func(p string) {
			copyFile(t, good, p)
			editBolt(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket(usageBucket); return err })
		}, `unexpected bucket "usage"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			c.make(p)
			before, _ := os.ReadFile(p)
			_, err := OpenJournal(p, JournalConfig{Create: true})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "move it away") {
				t.Fatalf("OpenJournal: %v; want ErrCorrupt saying %q", err, c.want)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
				t.Fatal("OpenJournal changed the file it refused")
			}
		})
	}
	t.Run("newer format", func(t *testing.T) {
		p := filepath.Join(dir, "newer")
		copyFile(t, good, p)
		editBolt(t, p, func(tx *bolt.Tx) error {
			return tx.Bucket(headerBucket).Put(formatKey, append([]byte(journalMagic), journalVersion+1))
		})
		_, err := OpenJournal(p, JournalConfig{Create: true})
		if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "journal format 2") {
			t.Fatalf("OpenJournal of a newer format: %v", err)
		}
	})
	t.Run("quota Open of a journal", func(t *testing.T) {
		p := filepath.Join(dir, "journal-as-quota")
		copyFile(t, good, p)
		if _, err := Open(p, Config{Create: true}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open of a journal: %v; want ErrCorrupt", err)
		}
	})
}

// A damaged entry found by Read (after Open checked the file) is
// ErrCorrupt, not data.
func TestJournalReadChecksEntries(t *testing.T) {
	j, _ := openTempJournal(t)
	for rev := uint64(1); rev <= 3; rev++ {
		if err := j.Append(ctx, rev, []byte("entry")); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(entriesBucket).Put(entryKey(2), []byte("entrX\x00\x00\x00\x00"))
	}); err != nil {
		t.Fatal(err)
	}
	if es, err := j.Read(ctx, 0, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a damaged entry: %v, %v; want ErrCorrupt", es, err)
	}
}

const journalChildEnv = "BOLTSTORE_JOURNAL_CRASH_CHILD"

// crashEntry is revision rev's data in the crash test: its size varies up
// to 64 KiB, so that entries span pages and a torn one would show.
func crashEntry(rev uint64) []byte {
	n := int(rev*7919) % (64 << 10)
	b := fmt.Appendf(nil, "revision %d:", rev)
	for len(b) < n {
		b = append(b, byte(rev), byte(len(b)))
	}
	return b
}

// TestJournalSurvivesSIGKILL runs a child process that appends entries
// (and compacts every 100), reporting each committed revision on stdout,
// and kills it with SIGKILL part-way, three times over the same file.
// Each time the reopened journal holds every reported revision, then at
// most the one in flight, with no gap and no torn entry.
func TestJournalSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv(journalChildEnv); path != "" {
		journalCrashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.journal")
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesSIGKILL$")
		cmd.Env = append(os.Environ(), journalChildEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		var reported uint64
		kill := 50 + rng.IntN(250)
		for n := 0; n < kill && lines.Scan(); n++ {
			reported, _ = strconv.ParseUint(lines.Text(), 10, 64)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for lines.Scan() { // what the child reported before it died
			reported, _ = strconv.ParseUint(lines.Text(), 10, 64)
		}
		cmd.Wait()
		if reported == 0 {
			t.Fatalf("round %d: the child reported nothing", round)
		}

		j, err := OpenJournal(path, JournalConfig{Create: true})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		ck, state, err := j.Checkpoint(ctx)
		if err != nil || ck > reported+1 || ck%100 != 0 || (ck > 0 && string(state) != fmt.Sprintf("state at %d", ck)) {
			t.Fatalf("round %d: checkpoint %d %q %v with %d reported", round, ck, state, err, reported)
		}
		last := ck
		for {
			es, err := j.Read(ctx, last, 64)
			if err != nil {
				t.Fatalf("round %d: Read(%d): %v", round, last, err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				if e.Revision != last+1 || !bytes.Equal(e.Data, crashEntry(e.Revision)) {
					t.Fatalf("round %d: after revision %d, revision %d with %d bytes", round, last, e.Revision, len(e.Data))
				}
				last = e.Revision
			}
		}
		j.Close()
		t.Logf("round %d: %d revisions reported, %d in the journal, checkpoint %d", round, reported, last, ck)
		if last < reported || last > reported+1 {
			t.Fatalf("round %d: %d revisions reported committed, the journal holds %d", round, reported, last)
		}
	}
}

// journalCrashChild appends to the journal at path from its last
// revision on until killed.
func journalCrashChild(path string) {
	j, err := OpenJournal(path, JournalConfig{Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rev, _, err := j.Checkpoint(ctx)
	for err == nil {
		var es []usageplan.JournalEntry
		if es, err = j.Read(ctx, rev, 100); len(es) == 0 {
			break
		}
		rev = es[len(es)-1].Revision
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for rev++; ; rev++ {
		if err := j.Append(ctx, rev, crashEntry(rev)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if rev%100 == 0 {
			if err := j.Compact(ctx, rev, fmt.Appendf(nil, "state at %d", rev)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		fmt.Println(rev)
	}
}

func BenchmarkJournal(b *testing.B) {
	journaltest.Benchmark(b, func(b *testing.B) usageplan.Journal { j, _ := openTempJournal(b); return j })
}
