package keys

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// signAt returns a request signed by (id, secret) at the given time, with
// the old gateway's headers (no nonce), so that equal inputs give equal
// MACs.
func signAt(t testing.TB, id, secret, target string, at time.Time) *http.Request {
	t.Helper()
	s := &Signer{ID: id, Secret: NewSecret(secret), Headers: []string{"x-date", RequestTarget}}
	r := httptest.NewRequest("GET", target, nil)
	require.NoError(t, s.SignAt(r, at))
	return r
}

func replayVerifier(t testing.TB, perKey int) *Verifier {
	t.Helper()
	v, err := NewVerifier(testKeys(), VerifierConfig{ReplayCachePerKey: perKey})
	require.NoError(t, err)
	return v
}

func TestReplayCache(t *testing.T) {
	t.Run("off: a replay inside the window is accepted", func(t *testing.T) {
		v, _ := NewVerifier(testKeys(), VerifierConfig{})
		r := signAt(t, vectorID, vectorSecret, "/", t0)
		_, err := v.VerifyAt(r, t0)
		require.NoError(t, err)
		_, err = v.VerifyAt(r, t0.Add(time.Second))
		require.NoError(t, err)
	})
	t.Run("on: a replay inside the window is refused with its own message", func(t *testing.T) {
		v := replayVerifier(t, 10)
		r := signAt(t, vectorID, vectorSecret, "/", t0)
		_, err := v.VerifyAt(r, t0)
		require.NoError(t, err)
		_, err = v.VerifyAt(r, t0.Add(time.Second))
		requireReason(t, err, ReasonReplayed)
		ae := err.(*AuthError)
		require.Equal(t, http.StatusUnauthorized, ae.Status())
		require.Equal(t, MessageReplayed, ae.Message())
		require.NotEqual(t, authErr(ReasonUnknownKey).Message(), ae.Message())
		// At the very edge of the window the date is still accepted, so
		// the replay is still refused.
		_, err = v.VerifyAt(r, t0.Add(DefaultClockSkew))
		requireReason(t, err, ReasonReplayed)
		// After the window the date check refuses it anyway.
		_, err = v.VerifyAt(r, t0.Add(DefaultClockSkew+time.Second))
		requireReason(t, err, ReasonDateOutOfWindow)
	})
	t.Run("on: refused and unknown signatures leave no entry", func(t *testing.T) {
		v := replayVerifier(t, 10)
		bad := signAt(t, "nobody", "whatever-secret", "/", t0)
		_, err := v.VerifyAt(bad, t0)
		requireReason(t, err, ReasonUnknownKey)
		wrong := signAt(t, vectorID, "not-the-secret", "/", t0)
		_, err = v.VerifyAt(wrong, t0)
		requireReason(t, err, ReasonSignatureMismatch)
		keys, sigs := v.replay.size()
		require.Zero(t, keys)
		require.Zero(t, sigs)
	})
	t.Run("negative size is an error", func(t *testing.T) {
		_, err := NewVerifier(testKeys(), VerifierConfig{ReplayCachePerKey: -1})
		require.Error(t, err)
	})
}

// Issue 12, finding 4: one key filling the cache (here with
// future-dated signatures, which live longest) refuses that key only;
// every other key keeps being served, and the full key recovers when its
// own signatures expire.
func TestReplayCacheFullRefusesOnlyThatKey(t *testing.T) {
	const perKey = 4
	v := replayVerifier(t, perKey)
	future := t0.Add(DefaultClockSkew) // the latest date accepted at t0
	for i := range perKey {
		_, err := v.VerifyAt(signAt(t, vectorID, vectorSecret, "/flood/"+string(rune('a'+i)), future), t0)
		require.NoError(t, err)
	}
	_, err := v.VerifyAt(signAt(t, vectorID, vectorSecret, "/flood/more", t0), t0)
	requireReason(t, err, ReasonReplayLimit)
	ae := err.(*AuthError)
	require.Equal(t, http.StatusTooManyRequests, ae.Status())
	require.Equal(t, "API rate limit exceeded.", ae.Message())
	require.Greater(t, ae.RetryAfter, time.Duration(0))
	require.LessOrEqual(t, ae.RetryAfter, 2*DefaultClockSkew+time.Nanosecond)

	// Another key: served up to its own share, the whole while.
	for i := range perKey {
		at := t0.Add(time.Duration(i) * time.Second)
		_, err := v.VerifyAt(signAt(t, otherID, otherSecret, "/other", at), at)
		require.NoError(t, err, "request %d of another key", i)
	}

	// The full key recovers once its oldest signature has expired.
	later := future.Add(DefaultClockSkew + time.Second)
	_, err = v.VerifyAt(signAt(t, vectorID, vectorSecret, "/flood/more", later), later)
	require.NoError(t, err)
}

// Keys whose signatures have all expired are dropped: the cache's size
// follows the keys in use, not every key ever seen.
func TestReplayCacheDropsIdleKeys(t *testing.T) {
	v := replayVerifier(t, 8)
	_, err := v.VerifyAt(signAt(t, vectorID, vectorSecret, "/", t0), t0)
	require.NoError(t, err)
	_, err = v.VerifyAt(signAt(t, otherID, otherSecret, "/", t0), t0)
	require.NoError(t, err)
	keys, sigs := v.replay.size()
	require.Equal(t, 2, keys)
	require.Equal(t, 2, sigs)
	later := t0.Add(DefaultClockSkew + time.Second)
	_, err = v.VerifyAt(signAt(t, otherID, otherSecret, "/", later), later)
	require.NoError(t, err)
	keys, sigs = v.replay.size()
	require.Equal(t, 1, keys, "the idle key's expired signatures are gone")
	require.Equal(t, 1, sigs, "the active key's expired signature goes on its next use")
}

// Under concurrency, one signature is admitted exactly once, and each key
// gets exactly its share.
func TestReplayCacheConcurrent(t *testing.T) {
	const perKey, goroutines = 16, 32
	v := replayVerifier(t, perKey)
	same := signAt(t, vectorID, vectorSecret, "/same", t0)
	var admitted, replayed atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			r := same.Clone(same.Context())
			if _, err := v.VerifyAt(r, t0); err == nil {
				admitted.Add(1)
			} else if err.(*AuthError).Reason == ReasonReplayed {
				replayed.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, admitted.Load())
	require.EqualValues(t, goroutines-1, replayed.Load())

	// Distinct signatures from two keys at once: each key is admitted
	// exactly perKey times (one of vectorID's slots is taken above).
	var perID [2]atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			for i := range perKey {
				id, secret, slot := vectorID, vectorSecret, 0
				if g%2 == 1 {
					id, secret, slot = otherID, otherSecret, 1
				}
				r := signAt(t, id, secret, "/"+string(rune('A'+g))+"/"+string(rune('a'+i)), t0)
				if _, err := v.VerifyAt(r, t0); err == nil {
					perID[slot].Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, perKey-1, perID[0].Load())
	require.EqualValues(t, perKey, perID[1].Load())
}

// BenchmarkReplayCacheCheck: recording one new signature in a cache in
// steady state (one expired entry leaves as one enters), for one key and
// spread over 1000 keys; compare with BenchmarkVerify, the cost it adds
// to.
func BenchmarkReplayCacheCheck(b *testing.B) {
	for _, nkeys := range []int{1, 1000} {
		b.Run(strconv.Itoa(nkeys)+"keys", func(b *testing.B) {
			ids := make([]string, nkeys)
			for i := range ids {
				ids[i] = "key" + strconv.Itoa(i)
			}
			c := newReplayCache(1 << 17) // room for 900 s of signatures 10 ms apart
			mac := make([]byte, 20)
			now := t0
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(mac, uint64(i))
				now = now.Add(10 * time.Millisecond)
				if r, _ := c.check(ids[i%nkeys], mac, now.Add(DefaultClockSkew), now); r != 0 {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestReplayCacheFreesExpiredOutOfOrder: signatures expire in the order of
// their signed dates, not of their arrival. A full share must make room
// from any expired signature, not only from the first one to arrive.
func TestReplayCacheFreesExpiredOutOfOrder(t *testing.T) {
	c := newReplayCache(2)
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	mac := func(b byte) []byte { return []byte{b, b, b} }
	// The first arrival was signed late (expires last), the second early.
	reason, _ := c.check("AKID1", mac(1), t0.Add(10*time.Minute), t0)
	require.Zero(t, reason)
	reason, _ = c.check("AKID1", mac(2), t0.Add(time.Second), t0)
	require.Zero(t, reason)

	now := t0.Add(2 * time.Second) // mac 2 has expired, mac 1 has not
	reason, _ = c.check("AKID1", mac(3), now.Add(5*time.Minute), now)
	require.Zero(t, reason, "an expired signature frees its place")
	reason, _ = c.check("AKID1", mac(1), t0.Add(10*time.Minute), now)
	require.Equal(t, ReasonReplayed, reason, "the live signature is still remembered")

	// Full of live signatures: refused until the soonest expiry.
	reason, wait := c.check("AKID1", mac(4), now.Add(5*time.Minute), now)
	require.Equal(t, ReasonReplayLimit, reason)
	require.Equal(t, 5*time.Minute+time.Nanosecond, wait, "the wait runs to the soonest expiry, mac 3's")
}
