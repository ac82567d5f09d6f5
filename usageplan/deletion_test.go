package usageplan

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

type recordingResetter struct {
	mu    sync.Mutex
	calls []string // key: plans of the snapshot
	err   error
}

func (r *recordingResetter) ResetKeyUsage(_ context.Context, snap *Snapshot, key string) error {
	var plans []string
	for _, p := range snap.Plans() {
		plans = append(plans, p.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, key+": "+strings.Join(plans, ","))
	return r.err
}

// DeleteKey forgets the key's usage in every plan once the key is gone.
// A failure to forget leaves the deletion standing, and a key that
// reuses the ID is added only once its usage is forgotten; other changes
// are not held up by it.
func TestDeleteKeyForgetsUsageAfter(t *testing.T) {
	reg := specRegistry(t)
	u := &recordingResetter{err: errors.New("store down")}
	reg.ResetUsageWith(u)
	require.ErrorIs(t, reg.DeleteKey("AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"), keys.ErrEnabled, "checked before any reset")
	assert.Empty(t, u.calls)

	partner, _ := reg.Key("partner_key_1")
	require.NoError(t, reg.DeleteKey("partner_key_1"), "the deletion is published; forgetting is retried")
	_, ok := reg.Key("partner_key_1")
	require.False(t, ok)
	require.Len(t, u.calls, 1)

	other := keys.Key{ID: "AKIDother000000000000000000000000000", Name: "other", Secret: keys.NewSecret("0123456789")}
	require.NoError(t, reg.AddKey(other), "another change is not held up")
	require.Len(t, u.calls, 1, "nor does it call the store")

	again := keys.Key{ID: partner.ID, Name: partner.Name, Secret: partner.Secret}
	require.ErrorContains(t, reg.AddKey(again), "store down", "a key reusing the ID would inherit the usage")
	_, ok = reg.Key("partner_key_1")
	require.False(t, ok)

	u.err = nil
	require.NoError(t, reg.AddKey(again))
	calls := len(u.calls)
	require.NoError(t, reg.DisableKey(other.ID))
	require.Len(t, u.calls, calls, "forgotten: not tried again")
	assert.Equal(t, "partner_key_1: usagePlan-kgf82zcd", u.calls[0], "under the plans of the snapshot it was deleted from")
}

// A change refused after its keys' deletion was prepared (the journal
// fails) forgets nothing: the key is still there, and so is its usage.
func TestRefusedDeletionForgetsNothing(t *testing.T) {
	ctx := context.Background()
	j := &failingAppends{MemoryJournal: NewMemoryJournal()}
	reg, err := OpenManaged(ctx, j, testOptions())
	require.NoError(t, err)
	defer reg.Close()
	require.NoError(t, reg.AddKey(keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}))
	require.NoError(t, reg.DisableKey(akid))
	u := &recordingResetter{}
	reg.ResetUsageWith(u)

	j.fail.Store(true)
	require.ErrorIs(t, reg.DeleteKey(akid), errAppend)
	_, ok := reg.Key(akid)
	require.True(t, ok)
	require.Empty(t, u.calls, "a refused deletion forgot the key's usage")

	cfg := reg.Snapshot().Config()
	cfg.Keys = nil
	require.ErrorIs(t, reg.ApplyConfig(cfg), errAppend)
	require.Empty(t, u.calls, "a refused reload forgot the usage of a key it would delete")

	j.fail.Store(false)
	require.NoError(t, reg.DeleteKey(akid))
	require.Equal(t, []string{akid + ": "}, u.calls)
}

// A change that deletes a key and adds one with the same ID is refused,
// forgetting nothing: the old key's usage would have to be forgotten
// before the change is made. Two changes do it.
func TestDeleteAndAddAgainInOneChange(t *testing.T) {
	reg := NewRegistry(testOptions())
	k := keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}
	require.NoError(t, reg.AddKey(k))
	require.NoError(t, reg.DisableKey(akid))
	u := &recordingResetter{}
	reg.ResetUsageWith(u)
	_, err := reg.Apply(context.Background(), KeyDeleted{ID: akid}, KeyAdded{Key: k})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "deleted and added again in one change")
	require.Empty(t, u.calls)
	got, _ := reg.Key(akid)
	require.Equal(t, keys.Disabled, got.Status, "nothing changed")

	require.NoError(t, reg.DeleteKey(akid))
	require.NoError(t, reg.AddKey(k))
	require.Equal(t, []string{akid + ": "}, u.calls)
}

// gatedResetter blocks its first call until release is closed, then
// fails it (failFirst) or lets it succeed; later calls succeed. It logs
// when its calls start and end, and counts those that succeeded.
type gatedResetter struct {
	failFirst bool
	mu        sync.Mutex
	log       []string
	calls, ok int
	entered   chan struct{}
	release   chan struct{}
}

func (g *gatedResetter) note(e string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, e)
}

func (g *gatedResetter) ResetKeyUsage(context.Context, *Snapshot, string) error {
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.mu.Unlock()
	g.note("reset")
	if first {
		close(g.entered)
		<-g.release
		if g.failFirst {
			return errors.New("store down")
		}
	}
	g.mu.Lock()
	g.ok++
	g.mu.Unlock()
	g.note("reset done")
	return nil
}

// addAgainDuringForget deletes a disabled key of a new registry whose
// resetter is g and, while the deletion's forget is on its way, adds the
// key again; it lets the forget end once the add waits for it (or is
// done), and returns the registry once both are done.
func addAgainDuringForget(t *testing.T, g *gatedResetter) *Registry {
	t.Helper()
	reg := NewRegistry(testOptions())
	k := keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}
	require.NoError(t, reg.AddKey(k))
	require.NoError(t, reg.DisableKey(akid))
	g.entered, g.release = make(chan struct{}), make(chan struct{})
	reg.ResetUsageWith(g)

	deleted := make(chan error)
	go func() { deleted <- reg.DeleteKey(akid) }()
	<-g.entered // published; its forget is on its way
	added := make(chan error, 1)
	go func() {
		err := reg.AddKey(k)
		g.note("added")
		added <- err
	}()
	for len(added) == 0 && !goroutineIn("usageplan.(*Registry).forgetAdded") {
		runtime.Gosched() // until the add waits for the deletion's forget, or is done
	}
	close(g.release)
	require.NoError(t, <-deleted)
	require.NoError(t, <-added)
	return reg
}

// A key added again while its deletion's forget is on its way, and then
// fails, forgets the old usage itself before it is added: the deletion
// marks the ID before it is published, and the mark stays.
func TestAddAgainWhileTheDeletionForgets(t *testing.T) {
	u := &gatedResetter{failFirst: true}
	reg := addAgainDuringForget(t, u)
	u.mu.Lock()
	require.Equal(t, 1, u.ok, "the key was added again before its old usage was forgotten")
	u.mu.Unlock()
	_, ok := reg.Key(akid)
	require.True(t, ok)
}

// A follower applies every record, whatever its own resetter says: a
// deletion whose usage it cannot forget, then the same ID added again,
// then a revocation of another key. (The instance that made the changes
// forgot the usage; a committed record is never refused.)
func TestFollowerIsNotHeldUpByItsResetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		leader, follower, k, other := followingTwoKeys(t)
		follower.ResetUsageWith(&recordingResetter{err: errors.New("store down")})

		require.NoError(t, leader.DeleteKey(akid))
		require.NoError(t, leader.AddKey(k))
		require.NoError(t, leader.DisableKey(other.ID)) // a revocation
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got, ok := follower.Key(other.ID)
		require.True(t, ok)
		require.Equal(t, keys.Disabled, got.Status, "the follower still admits a key disabled on the leader: %v", follower.Status().Err)
		require.NoError(t, follower.Status().Err)
	})
}

// followingTwoKeys opens a leader and a follower on one journal, in a
// synctest bubble, with two keys added on the leader (k, akid's, then
// disabled so that it may be deleted; and other) and the follower caught
// up.
func followingTwoKeys(t *testing.T) (leader, follower *Registry, k, other keys.Key) {
	t.Helper()
	regs := openManaged(t, NewMemoryJournal(), 2)
	leader, follower = regs[0], regs[1]
	k = keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}
	other = keys.Key{ID: "AKIDother000000000000000000000000000", Name: "other", Secret: keys.NewSecret("0123456789")}
	require.NoError(t, leader.AddKey(k))
	require.NoError(t, leader.AddKey(other))
	require.NoError(t, leader.DisableKey(akid))
	synctest.Wait()
	return leader, follower, k, other
}

var errAppend = errors.New("journal append failed")

// failingAppends is a MemoryJournal whose appends fail while fail is set.
type failingAppends struct {
	*MemoryJournal
	fail atomic.Bool
}

func (j *failingAppends) Append(ctx context.Context, rev uint64, entry []byte) error {
	if j.fail.Load() {
		return errAppend
	}
	return j.MemoryJournal.Append(ctx, rev, entry)
}

// A reload that drops a key forgets its usage; one that keeps every key
// resets nothing.
func TestReloadDroppingAKeyForgetsItsUsage(t *testing.T) {
	reg := specRegistry(t)
	u := &recordingResetter{}
	reg.ResetUsageWith(u)
	full := reg.Snapshot().Config()
	require.NoError(t, reg.ApplyConfig(full))
	assert.Empty(t, u.calls)

	cfg := reg.Snapshot().Config()
	cfg.Keys = cfg.Keys[:1]
	require.NoError(t, reg.ApplyConfig(cfg))
	assert.Equal(t, []string{"partner_key_1: usagePlan-kgf82zcd"}, u.calls)
}

// A key added again while its deletion's forget is on its way waits for
// it: that forget, landing after the new key was added, would wipe what
// the new key used meanwhile.
func TestAddAgainWaitsForTheDeletionsForget(t *testing.T) {
	u := &gatedResetter{}
	addAgainDuringForget(t, u)
	require.Equal(t, []string{"reset", "reset done", "added"}, u.log, "the key was added before its old usage was forgotten")
}

// goroutineIn reports whether a goroutine's stack holds fn.
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}

// sharedResetter is a recordingResetter whose usage the fleet shares.
type sharedResetter struct{ recordingResetter }

func (*sharedResetter) SharedUsage() bool { return true }

// A follower forgets a deletion it applies from the journal through its
// own resetters, but not through one whose usage the fleet shares: the
// instance that deleted the key forgot it for all, and a late forget
// would wipe what a key added again since with the same ID has used.
// A resetter that hangs does not stop the follower: its call has a
// deadline.
func TestFollowerForgetsOnlyWhatIsItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		leader, follower, _, other := followingTwoKeys(t)
		shared, own := &sharedResetter{}, &recordingResetter{}
		follower.ResetUsageWith(shared)
		follower.ResetUsageWith(own)
		follower.ResetUsageWith(hangingResetter{})

		require.NoError(t, leader.DeleteKey(akid))
		require.NoError(t, leader.DisableKey(other.ID))
		time.Sleep(time.Minute)
		synctest.Wait()
		got, _ := follower.Key(other.ID)
		require.Equal(t, keys.Disabled, got.Status, "the follower stopped at the deletion")
		require.Empty(t, shared.calls, "the fleet's usage was forgotten again")
		require.Equal(t, []string{akid + ": "}, own.calls)
	})
}

// hangingResetter returns only once its context is done.
type hangingResetter struct{}

func (hangingResetter) ResetKeyUsage(ctx context.Context, _ *Snapshot, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// A follower's resetter that hangs holds it up forgetTimeout per journal
// record, however many keys the record deletes; and a change of the
// follower's own waits for such a forget only as long as its context
// lets it (its deletion stands, its forget is left for later).
func TestHangingResetterOnAFollower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		regs := openManaged(t, NewMemoryJournal(), 2)
		leader, follower := regs[0], regs[1]
		disabledKey := func(id string) {
			require.NoError(t, leader.AddKey(keys.Key{ID: id, Name: "k", Secret: keys.NewSecret("0123456789")}))
			require.NoError(t, leader.DisableKey(id))
		}
		var del []Change
		for i := range 30 {
			id := fmt.Sprintf("AKIDhang%028d", i)
			disabledKey(id)
			del = append(del, KeyDeleted{ID: id})
		}
		const other, late, mine = "AKIDhangOther000000000000000000000000", "AKIDhangLate0000000000000000000000000", "AKIDhangMine0000000000000000000000000"
		require.NoError(t, leader.AddKey(keys.Key{ID: other, Name: "k", Secret: keys.NewSecret("0123456789")}))
		disabledKey(late)
		disabledKey(mine)
		synctest.Wait()
		follower.ResetUsageWith(hangingResetter{})

		_, err := leader.Apply(context.Background(), del...) // 30 keys, one record
		require.NoError(t, err)
		require.NoError(t, leader.DisableKey(other))
		time.Sleep(forgetTimeout + time.Second)
		synctest.Wait()
		got, _ := follower.Key(other)
		require.Equal(t, keys.Disabled, got.Status, "the follower is still forgetting the record's keys, a deadline each")

		require.NoError(t, leader.DeleteKey(late)) // the follower's forget of it hangs
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err = follower.Apply(ctx, KeyDeleted{ID: mine})
		require.NoError(t, err)
		require.Less(t, time.Since(start), forgetTimeout, "a change waited past its context for another's forget")
	})
}
