package keys

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// replayKey identifies one signature: the key and the decoded MAC (so
// that base64 variants of one MAC are one entry).
type replayKey struct {
	id  string
	mac [64]byte
	n   uint8
}

// replayCache remembers signatures until their signed date leaves the
// skew window. When full of live entries it refuses new signatures rather
// than forget old ones, which would let them be replayed.
type replayCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[replayKey, time.Time] // value: expiry
	max int
}

func newReplayCache(size int) *replayCache {
	l, err := simplelru.NewLRU[replayKey, time.Time](size, nil)
	if err != nil {
		panic("keys: replay cache: " + err.Error()) // size > 0 is checked by the caller
	}
	return &replayCache{lru: l, max: size}
}

// check records (id, mac) until expires and returns "" — or the reason to
// refuse: a replay, or a full cache.
func (c *replayCache) check(id string, mac []byte, expires, now time.Time) string {
	k := replayKey{id: id, n: uint8(len(mac))}
	copy(k.mac[:], mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.lru.Peek(k); ok && now.Before(exp) {
		return "replayed signature"
	}
	for c.lru.Len() >= c.max {
		_, exp, ok := c.lru.GetOldest()
		if !ok || now.Before(exp) {
			return "replay cache full"
		}
		c.lru.RemoveOldest()
	}
	c.lru.Add(k, expires)
	return ""
}
