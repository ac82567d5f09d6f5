package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/usageplan"
	"github.com/planguard/planguard/usageplan/journaltest"
)

// journalName is a journal name no other test uses.
func journalName() string {
	return fmt.Sprintf("test%d-%d:journal", os.Getpid(), prefixes.Add(1))
}

// journalClients returns n clients of the journal name on the Redis at
// addr, each with its own connection pool, as n instances would hold it.
func journalClients(t testing.TB, addr, name string, n int) []*Journal {
	t.Helper()
	out := make([]*Journal, n)
	for i := range out {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		j, err := NewJournal(c, JournalConfig{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close(); c.Close() })
		out[i] = j
	}
	return out
}

func asJournals(js []*Journal) []usageplan.Journal {
	out := make([]usageplan.Journal, len(js))
	for i, j := range js {
		out[i] = j
	}
	return out
}

func TestJournalConformance(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) usageplan.Journal {
		return journalClients(t, redisAddr, journalName(), 1)[0]
	})
	journaltest.RunShared(t, func(t *testing.T, n int) []usageplan.Journal {
		return asJournals(journalClients(t, redisAddr, journalName(), n))
	})
}

// On a Cluster every script's keys are in one slot (Redis refuses a
// script whose keys are not: CROSSSLOT), and XREAD goes to that slot's
// node.
func TestJournalCluster(t *testing.T) {
	addr := oneNodeCluster(t)
	node := redis.NewClient(&redis.Options{Addr: addr})
	defer node.Close()
	probe, _ := NewJournal(node, JournalConfig{Name: "planguard:journal"})
	for _, k := range []string{probe.log, probe.meta} {
		slot, err := node.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := keySlot("{planguard:journal}"); slot != int64(want) {
			t.Fatalf("%s is in slot %d, {planguard:journal} in %d", k, slot, want)
		}
	}
	open := func(t *testing.T, name string, n int) []usageplan.Journal {
		out := make([]usageplan.Journal, n)
		for i := range out {
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, MaxRetries: -1})
			j, err := NewJournal(cc, JournalConfig{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close(); cc.Close() })
			out[i] = j
		}
		return out
	}
	journaltest.Run(t, func(t *testing.T) usageplan.Journal { return open(t, journalName(), 1)[0] })
	journaltest.RunShared(t, func(t *testing.T, n int) []usageplan.Journal { return open(t, journalName(), n) })
}

func TestNewJournalRefusesBadNames(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	for _, name := range []string{"a{b", "a}b", "{x}"} {
		if _, err := NewJournal(c, JournalConfig{Name: name}); err == nil {
			t.Errorf("NewJournal(%q) succeeded", name)
		}
	}
	if _, err := NewJournal(nil, JournalConfig{}); err == nil {
		t.Error("NewJournal(nil) succeeded")
	}
}

// An Append sent again after its reply was lost succeeds; another entry
// at the same revision does not.
func TestJournalAppendSentAgain(t *testing.T) {
	j := journalClients(t, redisAddr, journalName(), 1)[0]
	if err := j.Append(ctx, 1, []byte("change")); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, 1, []byte("change")); err != nil {
		t.Fatalf("the same Append again: %v; want nil", err)
	}
	if err := j.Append(ctx, 1, []byte("other change")); !errors.Is(err, usageplan.ErrOutOfDate) {
		t.Fatalf("another entry at revision 1: %v; want ErrOutOfDate", err)
	}
	es, err := j.Read(ctx, 0, 10)
	if err != nil || len(es) != 1 || string(es[0].Data) != "change" {
		t.Fatalf("Read: %v %v; want the one entry", es, err)
	}
}

// follow reads j from revision after on until it holds upTo, retrying
// after errors (Redis down) as a registry's follower does; it returns
// the entries in order.
func follow(ctx context.Context, j *Journal, after, upTo uint64) ([]usageplan.JournalEntry, error) {
	var got []usageplan.JournalEntry
	for after < upTo {
		if err := j.Wait(ctx, after); err != nil {
			if ctx.Err() != nil {
				return got, err
			}
			waitABit() // Redis is down: try again when it may be back
			continue
		}
		es, err := j.Read(ctx, after, 100)
		if err != nil {
			if ctx.Err() != nil {
				return got, err
			}
			waitABit()
			continue
		}
		for _, e := range es {
			if e.Revision != after+1 {
				return got, fmt.Errorf("revision %d after %d", e.Revision, after)
			}
			got = append(got, e)
			after = e.Revision
		}
	}
	return got, nil
}

// Three clients on one Redis: each change appended by one is read, in
// order, by the other two.
func TestJournalThreeClients(t *testing.T) {
	js := journalClients(t, redisAddr, journalName(), 3)
	const changes = 90
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	results := make([][]usageplan.JournalEntry, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() { results[i], errs[i] = follow(ctx, j, 0, changes) })
	}
	for rev := uint64(1); rev <= changes; rev++ {
		if err := js[rev%3].Append(ctx, rev, fmt.Appendf(nil, "change %d", rev)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i := range js {
		if errs[i] != nil || len(results[i]) != changes {
			t.Fatalf("client %d read %d changes: %v", i, len(results[i]), errs[i])
		}
		for k, e := range results[i] {
			if string(e.Data) != fmt.Sprintf("change %d", k+1) {
				t.Fatalf("client %d, revision %d: %q", i, e.Revision, e.Data)
			}
		}
	}
}

// Redis restarts, with its data, while one client appends and two
// follow: every acknowledged change is still there, and the followers
// catch up from their revisions and read every change once, in order.
// A graceful restart keeps what appendfsync everysec wrote; SIGKILL keeps
// every acknowledged change with appendfsync always.
func TestJournalRedisRestart(t *testing.T) {
	for _, c := range []struct {
		name  string
		fsync string
		kill  bool
	}{
		{"graceful, appendfsync everysec", "everysec", false},
		{"SIGKILL, appendfsync always", "always", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := ownRedis(t, "--save", "", "--appendonly", "yes", "--appendfsync", c.fsync)
			name := journalName()
			js := journalClients(t, srv.addr, name, 3)
			const changes = 300
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			results := make([][]usageplan.JournalEntry, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() { results[i], errs[i] = follow(ctx, js[i+1], 0, changes) })
			}
			restarted := make(chan error, 1)
			restarting, failed := false, 0
			for rev := uint64(1); rev <= changes; {
				err := js[0].Append(ctx, rev, []byte("change "+strconv.FormatUint(rev, 10)))
				switch {
				case err == nil:
					rev++
				case ctx.Err() != nil || errors.Is(err, usageplan.ErrOutOfDate):
					t.Fatalf("Append(%d): %v", rev, err)
				default:
					failed++
					waitABit() // Redis is down; an Append sent again succeeds if it went through
				}
				if rev == 100 && !restarting {
					restarting = true
					down := make(chan struct{})
					go func() {
						if c.kill {
							srv.cmd.Process.Kill()
							srv.cmd.Wait()
						} else {
							srv.stop()
						}
						close(down)
						s, err := startRedis(srv.dir, srv.port, "--save", "", "--appendonly", "yes", "--appendfsync", c.fsync)
						if err == nil {
							*srv = *s
						}
						restarted <- err
					}()
					<-down // the next Appends find Redis down, then back
				}
			}
			wg.Wait()
			if err := <-restarted; err != nil {
				t.Fatal(err)
			}
			t.Logf("%d Appends failed while Redis restarted (the client's dial retries hide short restarts)", failed)
			for i := range 2 {
				if errs[i] != nil || len(results[i]) != changes {
					t.Fatalf("follower %d read %d changes: %v", i, len(results[i]), errs[i])
				}
				for k, e := range results[i] {
					if want := fmt.Sprintf("change %d", k+1); string(e.Data) != want {
						t.Fatalf("follower %d, revision %d: %q, want %q", i, e.Revision, e.Data, want)
					}
				}
			}
		})
	}
}

// A Redis that lost the journal (restarted without persistence) is
// reported to an instance that had read further, not waited on.
func TestJournalLost(t *testing.T) {
	srv := ownRedis(t, noPersistence...)
	j := journalClients(t, srv.addr, journalName(), 1)[0]
	for rev := uint64(1); rev <= 5; rev++ {
		if err := j.Append(ctx, rev, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	srv.stop()
	s, err := startRedis(srv.dir, srv.port, noPersistence...)
	if err != nil {
		t.Fatal(err)
	}
	*srv = *s
	var lost error
	for range 100 { // the client reconnects on its next command
		if _, lost = j.Read(ctx, 5, 10); errors.Is(lost, ErrJournalLost) {
			break
		}
	}
	if !errors.Is(lost, ErrJournalLost) {
		t.Fatalf("Read(5) on an emptied Redis: %v; want ErrJournalLost", lost)
	}
	if err := j.Wait(ctx, 5); !errors.Is(err, ErrJournalLost) {
		t.Fatalf("Wait(5) on an emptied Redis: %v; want ErrJournalLost", err)
	}
}

// A journal whose head says revision 3 while its entries are gone (the
// stream deleted or evicted) is ErrJournalLost on Read, not an empty
// answer: a follower at revision 1 would otherwise wait on nothing,
// Wait(1) returning at once and Read returning no entry, for ever.
func TestJournalEntriesGoneIsLost(t *testing.T) {
	ctx := context.Background()
	name := journalName()
	j := journalClients(t, redisAddr, name, 1)[0]
	for rev := uint64(1); rev <= 3; rev++ {
		if err := j.Append(ctx, rev, []byte{byte(rev)}); err != nil {
			t.Fatal(err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	if err := c.Del(ctx, "{"+name+"}:log").Err(); err != nil {
		t.Fatal(err)
	}
	if entries, err := j.Read(ctx, 1, 10); !errors.Is(err, ErrJournalLost) {
		t.Fatalf("Read(after 1) with the entries gone = %d entries, %v; want ErrJournalLost", len(entries), err)
	}
	if entries, err := j.Read(ctx, 3, 10); err != nil || len(entries) != 0 {
		t.Fatalf("Read(after 3), at the head = %d entries, %v; want none", len(entries), err)
	}
}
