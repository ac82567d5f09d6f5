package keys

import (
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// macKey is one decoded MAC (so that base64 variants of one MAC are one
// entry); n is its length.
type macKey struct {
	mac [64]byte
	n   uint8
}

// replayCache remembers signatures until their signed date leaves the
// skew window, with a bound per key: a key whose share is full of live
// signatures is refused (that key only) rather than having its old
// signatures forgotten, which would let them be replayed. Only
// signatures that verified are recorded, so unknown IDs and wrong
// secrets leave no state.
type replayCache struct {
	mu     sync.Mutex
	perKey int
	// keys holds each key's signatures, the key inserted into most
	// recently first; a key whose every signature has expired is dropped
	// from the old end, so idle keys cost nothing.
	keys *simplelru.LRU[string, *keySignatures]
}

// keySignatures is one key's share of the cache.
type keySignatures struct {
	macs   *simplelru.LRU[macKey, time.Time] // MAC → expiry, oldest insert first
	latest time.Time                         // the latest expiry among macs
}

func newReplayCache(perKey int) *replayCache {
	// The key index is bounded by the registry's keys, not by a size;
	// MaxInt makes the LRU a recency list that never evicts by itself.
	keys, err := simplelru.NewLRU[string, *keySignatures](math.MaxInt, nil)
	if err != nil {
		panic("keys: replay cache: " + err.Error()) // a positive size never fails
	}
	return &replayCache{perKey: perKey, keys: keys}
}

// check records (id, mac) until expires (inclusive) and returns 0, or the
// reason to refuse: ReasonReplayed when the MAC is live for id, or
// ReasonReplayLimit, with how long until the key's oldest signature
// expires, when id's share is full of live signatures.
func (c *replayCache) check(id string, mac []byte, expires, now time.Time) (Reason, time.Duration) {
	k := macKey{n: uint8(len(mac))}
	copy(k.mac[:], mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	ks, ok := c.keys.Get(id) // most recent first
	if !ok {
		macs, err := simplelru.NewLRU[macKey, time.Time](c.perKey, nil)
		if err != nil {
			panic("keys: replay cache: " + err.Error()) // perKey > 0 is checked by NewVerifier
		}
		ks = &keySignatures{macs: macs}
		c.keys.Add(id, ks)
	}
	if exp, ok := ks.macs.Peek(k); ok && !now.After(exp) {
		return ReasonReplayed, 0
	}
	for ks.macs.Len() >= c.perKey {
		_, exp, _ := ks.macs.GetOldest()
		if !now.After(exp) {
			return ReasonReplayLimit, exp.Sub(now) + time.Nanosecond
		}
		ks.macs.RemoveOldest()
	}
	ks.macs.Add(k, expires)
	if expires.After(ks.latest) {
		ks.latest = expires
	}
	c.pruneIdle(now)
	return 0, 0
}

// pruneIdle drops, from the least recently used end, keys whose every
// signature has expired. Each key is dropped once per use, so the work is
// constant per check on average.
func (c *replayCache) pruneIdle(now time.Time) {
	for {
		id, ks, ok := c.keys.GetOldest()
		if !ok || !now.After(ks.latest) {
			return
		}
		c.keys.Remove(id)
	}
}

// size returns the number of keys with signatures in the cache, and the
// number of signatures (for tests).
func (c *replayCache) size() (keys, signatures int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ks := range c.keys.Values() {
		signatures += ks.macs.Len()
	}
	return c.keys.Len(), signatures
}
