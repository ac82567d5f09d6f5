package redisstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// A Redis that lost the journal, in which a new instance then started
// another history and wrote past the old instance's revision: the old
// instance gets ErrJournalLost, instead of applying the new history's
// revisions on top of its own state and reporting nothing.
func TestJournalStartedAgainIsLost(t *testing.T) {
	name := journalName()
	js := journalClients(t, redisAddr, name, 2)
	// instance opens a registry on j and adds n keys named prefix_<i>.
	instance := func(j usageplan.Journal, prefix string, n int) *usageplan.Registry {
		r, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		for i := range n {
			if err := r.AddKey(keys.Key{ID: fmt.Sprintf("%s_%d", prefix, i), Name: prefix, Secret: keys.NewSecret("0123456789")}); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	a := instance(js[0], "old_key", 3)

	// Redis loses the journal.
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	if err := c.Del(ctx, "{"+name+"}:log", "{"+name+"}:meta").Err(); err != nil {
		t.Fatal(err)
	}

	// A new instance finds an empty journal and takes four changes.
	b := instance(js[1], "new_key", 4)

	err := a.Sync(ctx)
	if errors.Is(err, ErrJournalLost) {
		if _, ok := a.Key("new_key_0"); ok {
			t.Fatal("the old instance applied the new history's changes")
		}
		return // reported: what the documentation promises
	}
	ra, rb := a.Snapshot().Revision(), b.Snapshot().Revision()
	_, aHasOld := a.Key("old_key_0")
	_, bHasOld := b.Key("old_key_0")
	t.Fatalf("Sync: %v; Status().Err: %v; revisions a=%d b=%d; a holds old_key_0: %v, b: %v; a holds %d keys, b %d",
		err, a.Status().Err, ra, rb, aHasOld, bHasOld, len(a.Snapshot().Keys()), len(b.Snapshot().Keys()))
}
