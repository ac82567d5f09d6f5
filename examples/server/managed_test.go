package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/redisstore"
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

// Managed mode on one node: -config seeds the empty journal; on restart
// the journal holds the registry, and -config (another file, or none) is
// ignored, with a log line that says so.
func TestManagedSeedsTheJournalOnce(t *testing.T) {
	state := filepath.Join(t.TempDir(), "usage.db")
	addrs, logs, stop := startLogged(t, 1, "-managed", "-state", state, "-config", "testdata/config.json")
	if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != 200 {
		t.Fatalf("seeded: %d\n%s", code, logs)
	}
	if c := stop(); c != 0 || !strings.Contains(logs.String(), "journal seeded from -config") || !strings.Contains(logs.String(), "mode=managed") {
		t.Fatalf("exit %d:\n%s", c, logs)
	}
	// A config without the client's key: ignored, the journal's key serves.
	other := filepath.Join(t.TempDir(), "other.json")
	writeConfig(t, other, configVariant(t, "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "AKIDotherkey0000000000000000000000000"))
	for _, args := range [][]string{{"-config", other}, nil} {
		addrs, logs, stop = startLogged(t, 1, append([]string{"-managed", "-state", state}, args...)...)
		if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != 200 {
			t.Fatalf("%v: %d\n%s", args, code, logs)
		}
		if ignored := strings.Contains(logs.String(), "-config ignored"); ignored != (args != nil) {
			t.Fatalf("%v: -config ignored logged %v:\n%s", args, ignored, logs)
		}
		if c := stop(); c != 0 {
			t.Fatalf("exit %d", c)
		}
	}
	var stderr bytes.Buffer
	if c := run(context.Background(), []string{"-managed", "-config", "testdata/config.json"}, &stderr, nil); c != 2 || !strings.Contains(stderr.String(), "-managed needs -state") {
		t.Fatalf("-managed without a journal: exit %d, %s", c, stderr.String())
	}
}

// Three server processes in managed mode on one Redis, seeded from
// -config by the first: a key disabled through the first's admin API
// (Cloud API 3.0, DisableApiKey) is refused by all three within 1 s.
func TestManagedFleetOnRedis(t *testing.T) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must provide REDIS_ADDR")
		}
		t.Skip("REDIS_ADDR not set")
	}
	const id = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	// This test owns the default journal and the config's quota keys on
	// this Redis.
	stale, _ := rdb.Keys(ctx, "{"+redisstore.DefaultJournalName+"}*").Result()
	more, _ := rdb.Keys(ctx, "pg:{18:usagePlan-kgf82zcd/*").Result()
	if stale = append(stale, more...); len(stale) > 0 {
		rdb.Del(ctx, stale...)
	}
	t.Setenv(adminSecretEnv, adminSecret) // the processes inherit it
	bin := proctest.Build(t, ".")
	fleet := []*process{startProcess(t, bin, "-managed", "-redis", addr, "-config", "testdata/config.json", "-admin", "127.0.0.1:0", "-admin-id", adminID)}
	admin := fleet[0].admin
	for range 2 {
		fleet = append(fleet, startProcess(t, bin, "-managed", "-redis", addr, "-config", "testdata/config.json"))
	}
	if n := fleet[0].CountLog("journal seeded from -config"); n != 1 {
		t.Fatalf("the first instance seeded %d times:\n%s", n, fleet[0].Log())
	}
	for i, p := range fleet[1:] {
		p.WaitLog(1, "-config ignored")
		if code := p.status("/release/orders"); code != 200 {
			t.Fatalf("instance %d: %d\n%s", i+1, code, p.Log())
		}
	}

	start := time.Now()
	if r := tc3(t, admin, adminID, adminSecret, "DisableApiKey", `{"AccessKeyId": "`+id+`"}`); errorCode(r) != "" {
		t.Fatalf("DisableApiKey on the first instance: %v", r)
	}
	for i, p := range fleet {
		for code := p.status("/release/orders"); code != http.StatusUnauthorized; code = p.status("/release/orders") {
			if time.Since(start) > time.Second {
				t.Fatalf("instance %d still answers %d %v after the key was disabled", i, code, time.Since(start))
			}
		}
	}
	t.Logf("refused by all three %v after DisableApiKey", time.Since(start))

	// An instance killed and restarted converges to the journal: it
	// starts at the fleet's revision and refuses the key.
	fleet[2].Signal(syscall.SIGKILL)
	restarted := startProcess(t, bin, "-managed", "-redis", addr)
	if code := restarted.status("/release/orders"); code != http.StatusUnauthorized {
		t.Fatalf("restarted instance: %d\n%s", code, restarted.Log())
	}
}
