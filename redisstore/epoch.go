package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrDataLoss is returned by every decision while Redis is known to have
// lost the store's data and no operator has acknowledged it.
var ErrDataLoss = errors.New("redisstore: Redis lost planguard's data (its epoch marker is gone or replaced: " +
	"restarted without persistence?); decisions fail until an operator calls AcknowledgeDataLoss")

// The epoch marks the data of one lifetime of a Redis deployment.
//
//   - The root key (prefix + "{epoch}") holds the current epoch: "i" and
//     random hex when the first store found Redis empty, "a" and random
//     hex after an acknowledged loss. Beside it (same hash tag, so same
//     server), "{epoch}:ready" holds the epoch once its markers are all
//     written, and "{epoch}:lock" is held while a store writes them.
//   - Markers beside the data hold the epoch too: one per server (prefix
//   - "epoch:node"; a Ring's scripts run on the shard of their (plan,
//     key), so each shard has its own) or, on a Cluster, one per hash
//     slot (its scripts may only touch keys of one slot).
//   - Each decision passes the epoch its store knows, and its script
//     compares the marker beside the data: missing, "lost", or an epoch
//     made by another first store ("i...") means the data under it is
//     not the data the store counted in; the script writes "lost" there
//     so that every instance, old or new, fails closed. An "a..." epoch
//     is an acknowledgement: the store adopts it.
//   - A store learns the epoch on its first call (or Prepare). On an
//     empty Redis the first store sets the root; whichever store then
//     holds the lock writes the missing markers with the root's value
//     and marks it ready. Stores wait for "ready" before deciding, so
//     that none sees a half-written set, and all write the same value,
//     so that a store that stops halfway leaves nothing inconsistent.
//     Markers that exist are never replaced then: if the root's server
//     lost its data and the others did not, their old markers disagree
//     with the new root and the loss is reported.
type epoch struct {
	v  atomic.Pointer[string] // nil until learned
	mu sync.Mutex             // serialises learning and acknowledging
}

func (e *epoch) current() string {
	if p := e.v.Load(); p != nil {
		return *p
	}
	return ""
}

// adopt records m, the epoch a script ran under, if it changed.
func (e *epoch) adopt(m string) {
	if m != e.current() {
		v := m // escapes only when stored
		e.v.Store(&v)
	}
}

// initTimeout bounds learning the epoch; a Cluster's first store writes
// 16384 markers.
const initTimeout = 5 * time.Second

func (s *Store) rootKey() string  { return s.prefix + "{epoch}" }
func (s *Store) readyKey() string { return s.prefix + "{epoch}:ready" }
func (s *Store) lockKey() string  { return s.prefix + "{epoch}:lock" }
func (s *Store) nodeKey() string  { return s.node }

// markerOf is the marker that the script of the counter quotaKey checks.
func (s *Store) markerOf(quotaKey string) string {
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		return s.slotMarker(keySlot(quotaKey))
	}
	return s.nodeKey()
}

func (s *Store) slotMarker(slot int) string {
	return s.prefix + "{" + slotTags()[slot] + "}:epoch"
}

// Prepare learns the store's epoch from Redis, creating it on an empty
// Redis (on a Cluster, that writes 16384 markers). A store does it on its
// first call otherwise, and calls that arrive meanwhile wait for it
// within their deadline: call Prepare at start-up so that the first
// requests do not. It is safe to call more than once.
func (s *Store) Prepare(ctx context.Context) error {
	return wrap(inTime(ctx, s.ensureEpoch))
}

// ensureEpoch learns the epoch, creating it on an empty Redis, if this
// store does not know it yet.
func (s *Store) ensureEpoch(ctx context.Context) error {
	if s.epoch.v.Load() != nil {
		return nil
	}
	s.epoch.mu.Lock()
	defer s.epoch.mu.Unlock()
	if s.epoch.v.Load() != nil {
		return nil
	}
	fresh := "i" + randomHex()
	for {
		v, err := s.rdb.Get(ctx, s.rootKey()).Result()
		if errors.Is(err, redis.Nil) {
			err = s.rdb.SetNX(ctx, s.rootKey(), fresh, 0).Err()
			if err == nil {
				continue // read whichever store's root won
			}
		}
		if err != nil {
			return err
		}
		ready, err := s.rdb.Get(ctx, s.readyKey()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if ready == v {
			s.epoch.adopt(v)
			return nil
		}
		won, err := s.rdb.SetNX(ctx, s.lockKey(), fresh, initTimeout).Result()
		if err != nil {
			return err
		}
		if won {
			err := s.writeMarkers(ctx, v, false)
			if err == nil {
				err = s.rdb.Set(ctx, s.readyKey(), v, 0).Err()
			}
			s.rdb.Del(context.WithoutCancel(ctx), s.lockKey())
			if err != nil {
				return err
			}
			s.epoch.adopt(v)
			return nil
		}
		// Another store is writing the markers: wait for it.
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// writeMarkers sets every marker to v: only those missing unless
// overwrite.
func (s *Store) writeMarkers(ctx context.Context, v string, overwrite bool) error {
	set := func(ctx context.Context, c redis.Cmdable, key string) error {
		if overwrite {
			return c.Set(ctx, key, v, 0).Err()
		}
		return c.SetNX(ctx, key, v, 0).Err()
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		// One pipeline per 1024 slots; the client sends each command to
		// the master of its slot.
		for lo := 0; lo < numSlots; lo += 1024 {
			p := c.Pipeline()
			for slot := lo; slot < lo+1024; slot++ {
				set(ctx, p, s.slotMarker(slot))
			}
			if _, err := p.Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	case *redis.Ring:
		return forEachShard(ctx, c, func(ctx context.Context, shard *redis.Client) error {
			return set(ctx, shard, s.nodeKey())
		})
	default:
		return set(ctx, s.rdb, s.nodeKey())
	}
}

// AcknowledgeDataLoss is the operator's answer to ErrDataLoss: it starts
// a new epoch, so that decisions resume on this instance at once and on
// the others at their next call, counting from what Redis holds now
// (nothing, after a restart without persistence; restore counts with
// the limiter's SetUsage first if they are known). It is not needed
// otherwise, and harmless.
func (s *Store) AcknowledgeDataLoss(ctx context.Context) error {
	s.epoch.mu.Lock()
	defer s.epoch.mu.Unlock()
	v := "a" + randomHex()
	return wrap(inTime(ctx, func(ctx context.Context) error {
		if err := s.writeMarkers(ctx, v, true); err != nil {
			return err
		}
		if err := s.rdb.Set(ctx, s.rootKey(), v, 0).Err(); err != nil {
			return err
		}
		if err := s.rdb.Set(ctx, s.readyKey(), v, 0).Err(); err != nil {
			return err
		}
		s.epoch.adopt(v)
		return nil
	}))
}

// inTime runs fn and returns its error, or ctx's error as soon as ctx
// is done, even if fn is still blocked on a socket (it then finishes in
// the background).
func inTime(ctx context.Context, fn func(ctx context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// numSlots is the number of Redis Cluster hash slots.
const numSlots = 16384

// keySlot is the Cluster hash slot of key: CRC16 of its hash tag (the
// part between the first "{" and the next "}", if not empty) or of the
// whole key.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) % numSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021), the checksum of Redis
// Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotTags returns, for each slot, a short tag that hashes to it: the
// first base-36 number that does.
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, numSlots)
	for i, found := 0, 0; found < numSlots; i++ {
		t := strconv.FormatInt(int64(i), 36)
		if slot := int(crc16(t)) % numSlots; tags[slot] == "" {
			tags[slot] = t
			found++
		}
	}
	return tags
})
