package redisstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// A Redis that lost the journal (restarted without persistence: here its
// two keys are deleted) is reported as ErrJournalLost only while the new
// journal's head is behind the instance. Once another instance (a new one,
// seeding the empty journal, then taking changes) writes past that
// revision, the old instance reads the new history's revisions after its
// own and applies them on top of the old state: the two instances report
// the same revision, hold different registries, and no error is left.
// A Redis that lost the journal, in which a new instance then started
// another history and wrote past the old instance's revision: the old
// instance gets ErrJournalLost, instead of applying the new history's
// revisions on top of its own state and reporting nothing.
func TestJournalStartedAgainIsLost(t *testing.T) {
	name := journalName()
	js := journalClients(t, redisAddr, name, 2)
	a, err := usageplan.OpenManaged(ctx, js[0], usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 3 {
		if err := a.AddKey(keys.Key{ID: fmt.Sprintf("old_key_%d", i), Name: "old", Secret: keys.NewSecret("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}

	// Redis loses the journal.
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	if err := c.Del(ctx, "{"+name+"}:log", "{"+name+"}:meta").Err(); err != nil {
		t.Fatal(err)
	}

	// A new instance finds an empty journal and takes four changes.
	b, err := usageplan.OpenManaged(ctx, js[1], usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 4 {
		if err := b.AddKey(keys.Key{ID: fmt.Sprintf("new_key_%d", i), Name: "new", Secret: keys.NewSecret("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}

	err = a.Sync(ctx)
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
