package usageplan

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

// JournalStatus.Since is documented as "when the errors began". A
// journal entry the follower cannot apply makes it retry every 250 ms;
// each retry's successful Read clears the error (failed(nil)) before the
// apply fails again, so Since moves forward on every retry and Err is
// nil between the two: a monitor looking for "failing for more than N
// minutes" never fires.
// A journal entry that fails to apply on every retry leaves Status's Since at
// the first failure, and Err set throughout.
func TestStatusSinceKeepsWhenTheErrorsBegan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		j := NewMemoryJournal()
		opts := testOptions()
		opts.Now = nil // the bubble's clock
		r, err := OpenManaged(ctx, j, opts)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, r.AddKey(keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}))

		// Revision 2 is not a record this instance can apply.
		require.NoError(t, j.Append(ctx, 2, []byte(`{"revision":2,"changes":[{"kind":"noSuchKind"}]}`)))
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		first := r.Status()
		require.Error(t, first.Err)

		time.Sleep(10 * time.Second)
		synctest.Wait()
		later := r.Status()
		require.Error(t, later.Err)
		require.Equal(t, first.Since, later.Since, "Since is when the errors began")
	})
}

// A registry that follows its journal reports no lag; one that cannot
// apply a revision another instance committed (run with lower ceilings)
// reports how many revisions it lags (Head) and since when (the oldest
// unapplied revision's time), however long it retries and however many
// revisions come after.
func TestStatusReportsTheLag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		j := NewMemoryJournal()
		wide, narrow := testOptions(), testOptions()
		wide.Now, narrow.Now = nil, nil // the bubble's clock
		wide.MaxBurst = 20_000
		a, err := OpenManaged(ctx, j, wide)
		require.NoError(t, err)
		defer a.Close()
		b, err := OpenManaged(ctx, j, narrow)
		require.NoError(t, err)
		defer b.Close()
		require.NoError(t, a.AddKey(keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}))
		synctest.Wait()
		require.Equal(t, JournalStatus{Revision: 1, Head: 1}, b.Status())

		time.Sleep(time.Minute)
		committed := time.Now()
		_, err = a.CreatePlan(Plan{Name: "wide", QPS: 10, Burst: 15_000, Quota: -1}) // revision 2: over b's ceiling
		require.NoError(t, err)
		synctest.Wait()
		time.Sleep(time.Minute) // b retries meanwhile
		require.NoError(t, a.AddKey(keys.Key{ID: "AKIDthird000000000000000000000000000", Name: "k3", Secret: keys.NewSecret("0123456789")}))
		time.Sleep(time.Second) // b's next retry reads it
		synctest.Wait()
		st := b.Status()
		require.Error(t, st.Err)
		require.Equal(t, uint64(1), st.Revision)
		require.Equal(t, uint64(3), st.Head)
		require.True(t, st.Lagging.Equal(committed), "lagging since %v, want revision 2's time %v", st.Lagging, committed)
		require.Equal(t, JournalStatus{Revision: 3, Head: 3}, a.Status())
	})
}
