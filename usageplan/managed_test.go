package usageplan

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// openManaged opens n registries on j, each with options of its own.
func openManaged(t *testing.T, j Journal, n int) []*Registry {
	t.Helper()
	regs := make([]*Registry, n)
	for i := range regs {
		opts := testOptions()
		opts.Rand = rand.NewChaCha8([32]byte{byte(i + 1)})
		r, err := OpenManaged(context.Background(), j, opts)
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		regs[i] = r
	}
	return regs
}

// seed gives r a service, two keys and two plans that share akid.
func seed(t *testing.T, r *Registry) (a, b Plan) {
	t.Helper()
	_, err := r.PutService(Service{ID: svcID, Name: "orders", Environments: []string{"release", "test"}, APIs: []API{
		{ID: apiList, Name: "list", Method: "GET", Path: "/orders"},
	}})
	require.NoError(t, err)
	require.NoError(t, r.AddKey(keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}))
	a, err = r.CreatePlan(Plan{Name: "a", QPS: 10, Quota: 100})
	require.NoError(t, err)
	b, err = r.CreatePlan(Plan{Name: "b", QPS: 10, Quota: 100})
	require.NoError(t, err)
	require.NoError(t, r.BindKeys(a.ID, akid))
	require.NoError(t, r.BindKeys(b.ID, akid))
	return a, b
}

// Three registries on one journal: a change made on one is applied by the
// others, by their own followers (no Sync), in revision order; a key
// disabled on the first is refused by the other two.
func TestManagedRegistriesFollowOneJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		regs := openManaged(t, NewMemoryJournal(), 3)
		a, _ := seed(t, regs[0])
		require.NoError(t, regs[0].Bind(a.ID, binding.Target{Service: svcID, Environment: "release"}))
		synctest.Wait() // the followers have applied what the journal holds
		for i, r := range regs {
			assert.Equal(t, uint64(7), r.Snapshot().Revision(), "registry %d", i)
			p, ok := r.Snapshot().Resolve(svcID, "release", apiList, akid)
			require.True(t, ok, "registry %d", i)
			assert.Equal(t, a.ID, p.ID)
		}
		require.NoError(t, regs[0].DisableKey(akid))
		synctest.Wait()
		for i, r := range regs[1:] {
			k, ok := r.Key(akid)
			require.True(t, ok)
			assert.Equal(t, keys.Disabled, k.Status, "registry %d", i+1)
			assert.Equal(t, regs[0].Snapshot().Config(), r.Snapshot().Config(), "registry %d holds the first's state", i+1)
		}
		// A change on another registry goes through the journal too.
		require.NoError(t, regs[2].EnableKey(akid))
		synctest.Wait()
		k, _ := regs[0].Key(akid)
		assert.Equal(t, keys.Enabled, k.Status)
		assert.Equal(t, uint64(9), regs[0].Status().Revision)
		assert.NoError(t, regs[0].Status().Err)
	})
}

// Two registries binding conflicting plans at once, 1000 times: exactly
// one wins each round, the other is refused with a conflict, and both end
// at the same revision in a state that breaks no rule.
func TestManagedConflictingBindingsRace(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	release := binding.Target{Service: svcID, Environment: "release"}
	for round := range rounds {
		j := NewMemoryJournal()
		regs := openManaged(t, j, 2)
		a, b := seed(t, regs[0])
		require.NoError(t, regs[1].Sync(context.Background()))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, p := range []Plan{a, b} {
			wg.Go(func() { errs[i] = regs[i].Bind(p.ID, release) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both or neither won: %v, %v", round, errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, ErrConflict, "round %d", round)
			}
		}
		for _, r := range regs {
			require.NoError(t, r.Sync(context.Background()))
			snap := r.Snapshot()
			require.Equal(t, uint64(7), snap.Revision(), "round %d", round)
			problems, _ := validateRules(snap.model(), r.opts.ceilings(), nil, true)
			require.Empty(t, problems, "round %d", round)
		}
		for _, r := range regs {
			r.Close()
		}
		j.Close()
	}
}

// failingJournal is a MemoryJournal whose calls fail while down is set.
type failingJournal struct {
	*MemoryJournal
	mu   sync.Mutex
	down bool
}

var errDown = errors.New("journal unreachable")

func (j *failingJournal) setDown(v bool) { j.mu.Lock(); j.down = v; j.mu.Unlock() }
func (j *failingJournal) isDown() bool   { j.mu.Lock(); defer j.mu.Unlock(); return j.down }

func (j *failingJournal) Append(ctx context.Context, rev uint64, entry []byte) error {
	if j.isDown() {
		return errDown
	}
	return j.MemoryJournal.Append(ctx, rev, entry)
}

func (j *failingJournal) Read(ctx context.Context, after uint64, limit int) ([]JournalEntry, error) {
	if j.isDown() {
		return nil, errDown
	}
	return j.MemoryJournal.Read(ctx, after, limit)
}

// While the journal cannot be reached, a change fails and applies
// nothing, the registry serves its last snapshot, and Status says since
// when; once it is back, the registry catches up.
func TestManagedRegistryWithoutItsJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &failingJournal{MemoryJournal: NewMemoryJournal()}
		regs := openManaged(t, j, 2)
		seed(t, regs[0])
		synctest.Wait()
		before := regs[0].Snapshot()

		j.setDown(true)
		err := regs[0].DisableKey(akid)
		require.ErrorIs(t, err, errDown)
		assert.Same(t, before, regs[0].Snapshot(), "nothing applied that the journal does not hold")
		require.ErrorIs(t, regs[1].Sync(context.Background()), errDown)
		st := regs[1].Status()
		require.ErrorIs(t, st.Err, errDown)
		assert.False(t, st.Since.IsZero())
		k, ok := regs[1].Key(akid)
		require.True(t, ok, "the last snapshot is served")
		assert.Equal(t, keys.Enabled, k.Status)

		j.setDown(false)
		require.NoError(t, regs[0].DisableKey(akid))
		synctest.Wait()
		synctest.Wait()
		k, _ = regs[1].Key(akid)
		assert.Equal(t, keys.Disabled, k.Status)
		assert.NoError(t, regs[1].Status().Err)
	})
}

// A registry opened on a journal that already holds changes starts from
// them; one whose entries are not records is refused.
func TestOpenManagedReplaysTheJournal(t *testing.T) {
	j := NewMemoryJournal()
	first := openManaged(t, j, 1)[0]
	seed(t, first)
	second := openManaged(t, j, 1)[0]
	assert.Equal(t, first.Snapshot().Config(), second.Snapshot().Config())

	bad := NewMemoryJournal()
	require.NoError(t, bad.Append(context.Background(), 1, []byte(`{"revision": 1, "changes": [{"kind": "noSuchKind"}]}`)))
	_, err := OpenManaged(context.Background(), bad, testOptions())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "journal revision 1")
}

// Checkpoints: after one, a new registry starts from it (the journal
// dropped the entries before it) and applies the revisions after it; a
// registry that was away past the checkpoint catches up through it.
func TestManagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	j := NewMemoryJournal()
	regs := openManaged(t, j, 2)
	a, _ := seed(t, regs[0])
	require.NoError(t, regs[1].Sync(ctx))
	regs[1].Close() // away from here on
	away := regs[1].Snapshot().Revision()

	require.NoError(t, regs[0].Bind(a.ID, binding.Target{Service: svcID, Environment: "release"}))
	rev, err := regs[0].Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(7), rev)
	_, err = j.Read(ctx, 0, 10)
	require.ErrorIs(t, err, ErrCompacted, "the journal dropped the entries up to the checkpoint")
	require.NoError(t, regs[0].DisableKey(akid))

	fresh := openManaged(t, j, 1)[0]
	assert.Equal(t, uint64(8), fresh.Snapshot().Revision())
	assert.Equal(t, regs[0].Snapshot().Config(), fresh.Snapshot().Config())
	p, ok := fresh.Snapshot().Resolve(svcID, "release", apiList, akid)
	require.True(t, ok)
	assert.Equal(t, a.ID, p.ID)
	_, err = fresh.Changes(6)
	require.ErrorIs(t, err, ErrCompacted, "revisions before the checkpoint are not listed")
	recs, err := fresh.Changes(7)
	require.NoError(t, err)
	require.Len(t, recs, 1)

	require.NoError(t, regs[1].Sync(ctx), "back after %d", away)
	assert.Equal(t, regs[0].Snapshot().Config(), regs[1].Snapshot().Config())

	_, err = NewRegistry(testOptions()).Checkpoint(ctx)
	require.Error(t, err, "an unmanaged registry has no journal")
}
