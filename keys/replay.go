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

// keySignatures is one key's share of the cache: its live signatures,
// and the same signatures in a min-heap by expiry, so that the one to go
// first is always at hand (signatures expire in the order of their signed
// dates, which need not be the order they arrive in).
type keySignatures struct {
	macs   map[macKey]int64 // MAC → expiry, in Unix nanoseconds
	byExp  []expiring       // a min-heap of macs by expiry
	latest time.Time        // the latest expiry among macs
}

type expiring struct {
	exp int64
	mac macKey
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
// ReasonReplayLimit, with how long until the key's soonest signature
// expires, when id's share is full of live signatures.
func (c *replayCache) check(id string, mac []byte, expires, now time.Time) (Reason, time.Duration) {
	k := macKey{n: uint8(len(mac))}
	copy(k.mac[:], mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	ks, ok := c.keys.Get(id) // most recent first
	if !ok {
		ks = &keySignatures{macs: make(map[macKey]int64)}
		c.keys.Add(id, ks)
	}
	ks.expire(now.UnixNano())
	if _, ok := ks.macs[k]; ok {
		return ReasonReplayed, 0
	}
	if len(ks.macs) >= c.perKey {
		return ReasonReplayLimit, time.Duration(ks.byExp[0].exp-now.UnixNano()) + time.Nanosecond
	}
	ks.macs[k] = expires.UnixNano()
	ks.push(expiring{exp: expires.UnixNano(), mac: k})
	if expires.After(ks.latest) {
		ks.latest = expires
	}
	c.pruneIdle(now)
	return 0, 0
}

// expire forgets the signatures that expired before now.
func (ks *keySignatures) expire(now int64) {
	for len(ks.byExp) > 0 && ks.byExp[0].exp < now {
		delete(ks.macs, ks.byExp[0].mac)
		ks.pop()
	}
}

func (ks *keySignatures) push(e expiring) {
	h := append(ks.byExp, e)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].exp <= h[i].exp {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
	ks.byExp = h
}

func (ks *keySignatures) pop() {
	h := ks.byExp
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].exp < h[least].exp {
			least = l
		}
		if r < len(h) && h[r].exp < h[least].exp {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	ks.byExp = h
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
		signatures += len(ks.macs)
	}
	return c.keys.Len(), signatures
}
