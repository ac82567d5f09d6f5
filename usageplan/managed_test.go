package usageplan

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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

// A registry started from a checkpoint holds the created and modified
// times its keys and plans had, not the checkpoint's time: the same as
// a registry that replayed the journal. A checkpoint without times (an
// older version's) restores them at its time; one whose times do not
// match what it adds is refused, and so is a revision's record that
// carries times.
func TestCheckpointKeepsTimes(t *testing.T) {
	ctx := context.Background()
	const akid2 = "AKIDsecondKey0000000000000000000000"
	clock := t0
	opts := testOptions()
	opts.Now = func() time.Time { return clock }
	later := func() { clock = clock.Add(time.Hour) }
	j := NewMemoryJournal()
	r, err := OpenManaged(ctx, j, opts)
	require.NoError(t, err)
	defer r.Close()
	a, b := seed(t, r) // all at t0
	later()
	require.NoError(t, r.AddKey(keys.Key{ID: akid2, Name: "k2", Secret: keys.NewSecret("0123456789")}))
	later()
	require.NoError(t, r.Bind(a.ID, binding.Target{Service: svcID, Environment: "release"}))
	later()
	require.NoError(t, r.DisableKey(akid2))
	b.Name = "b2"
	require.NoError(t, r.UpdatePlan(b))
	replayed, err := OpenManaged(ctx, j, opts) // before the checkpoint
	require.NoError(t, err)
	defer replayed.Close()

	clock = clock.Add(30 * 24 * time.Hour)
	_, err = r.Checkpoint(ctx)
	require.NoError(t, err)
	fresh, err := OpenManaged(ctx, j, opts)
	require.NoError(t, err)
	defer fresh.Close()
	require.Equal(t, r.Snapshot().Revision(), fresh.Snapshot().Revision())
	for _, want := range r.Snapshot().Keys() {
		for name, reg := range map[string]*Registry{"replayed": replayed, "checkpoint": fresh} {
			got, ok := reg.Key(want.ID)
			require.True(t, ok)
			assert.True(t, want.Created.Equal(got.Created), "%s: key %s created %v, want %v", name, want.ID, got.Created, want.Created)
			assert.True(t, want.Modified.Equal(got.Modified), "%s: key %s modified %v, want %v", name, want.ID, got.Modified, want.Modified)
		}
	}
	for _, want := range r.Snapshot().Plans() {
		for name, reg := range map[string]*Registry{"replayed": replayed, "checkpoint": fresh} {
			got, ok := reg.Snapshot().Plan(want.ID)
			require.True(t, ok)
			assert.True(t, want.Created.Equal(got.Created), "%s: plan %s created %v, want %v", name, want.ID, got.Created, want.Created)
			assert.True(t, want.Modified.Equal(got.Modified), "%s: plan %s modified %v, want %v", name, want.ID, got.Modified, want.Modified)
		}
	}
	k2, _ := fresh.Key(akid2)
	require.True(t, k2.Modified.Equal(t0.Add(3*time.Hour)), "the disabled key's modified time is its disabling's")

	// The same checkpoint without its times: restored at its time.
	_, data, err := j.Checkpoint(ctx)
	require.NoError(t, err)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	require.Contains(t, raw, "times")
	timesless := maps.Clone(raw)
	delete(timesless, "times")
	old := checkpointJournal(t, timesless)
	fromOld, err := OpenManaged(ctx, old, opts)
	require.NoError(t, err)
	defer fromOld.Close()
	k, _ := fromOld.Key(akid)
	require.True(t, k.Created.Equal(clock), "an older checkpoint's key is created at its time")

	// Times that do not match what the checkpoint adds are refused.
	short := maps.Clone(raw)
	short["times"] = json.RawMessage(`{"keys": [[1, 2]], "plans": []}`)
	_, err = OpenManaged(ctx, checkpointJournal(t, short), opts)
	require.ErrorContains(t, err, "times for 1 keys and 0 plans, but it adds 2 keys and 2 plans")

	// A revision's record never carries times.
	var rec Record
	require.ErrorContains(t, json.Unmarshal(data, &rec), "a checkpoint's times")
}

// checkpointJournal returns a journal whose checkpoint is the given
// fields, at their revision.
func checkpointJournal(t *testing.T, fields map[string]json.RawMessage) Journal {
	t.Helper()
	data, err := json.Marshal(fields)
	require.NoError(t, err)
	var rev uint64
	require.NoError(t, json.Unmarshal(fields["revision"], &rev))
	j := NewMemoryJournal()
	for i := uint64(1); i <= rev; i++ { // a journal compacts only what it holds
		require.NoError(t, j.Append(context.Background(), i, []byte(`{}`)))
	}
	require.NoError(t, j.Compact(context.Background(), rev, data))
	return j
}
