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
