package limiter

import (
	"sync/atomic"
	"unsafe"
)

// The key table finds a decision's entry by the identity of its key
// string, without hashing the key's bytes or reading the index: one
// dependent memory access fewer per decision. At a million keys, where
// each of those accesses is a miss in memory, that took a decision from
// 374–523 ns to 305–360 (BENCHMARKS.md, "the key table").
//
// A caller that passes the same string for every request of a key (the
// middleware passes the registry's key ID) finds its entry in the set
// its string's address picks. The entry it finds is the key's only if
// the entry's key is that very string, under the same plan: the entry
// then keeps the string's bytes alive, so no other string can have that
// address, and strings do not change. Anything else (a new string for
// the key, a full set, an entry no longer in the index) takes the hash
// path, as every key did before, which then offers the entry to the
// table.
//
// The table is a cache of 8-way sets: a string's address picks a set
// and, with the plan, a 32-bit tag, so that a lookup reads the entry it
// returns and no other. A slot is kept by the entry offered to it until
// that entry is released after its eviction (Limiter.release). The
// table doubles, in the background, when the entries made outnumber a
// quarter of its slots, up to the power of two at or above the
// Limiter's capacity, keeping the entries it holds: 12 bytes a slot,
// 12.6 per key at a million keys and that capacity.
type keyTable struct {
	tags  []atomic.Uint32 // per slot, its entry's tag; 0: empty
	slots []atomic.Pointer[entry]
	shift uint // 64 - log2(the number of sets)
}

// keyWays is the number of slots in a set.
const keyWays = 8

// minKeySlots is a new Limiter's key table size, and maxKeySlots the
// largest it grows to.
const minKeySlots, maxKeySlots = 1 << 10, 1 << 30

func newKeyTable(n int) *keyTable {
	shift := uint(64)
	for m := n / keyWays; m > 1; m >>= 1 {
		shift--
	}
	return &keyTable{tags: make([]atomic.Uint32, n), slots: make([]atomic.Pointer[entry], n), shift: shift}
}

// set returns the first slot of key's set and the tag of key under
// plan: the set from the top bits of key's bytes' address, mixed
// (splitmix64's finaliser: addresses a size class apart, multiplied by
// a constant alone, left half the sets unused); the tag from 24 low
// bits of it (never 0) and 8 bits of the plan (planBits).
func (t *keyTable) set(key, plan string) (int, uint32) {
	x := uint64(uintptr(unsafe.Pointer(unsafe.StringData(key))))
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x>>t.shift) * keyWays, uint32(x)&^0xff | 1<<8 | planBits(plan)
}

// planBits is 8 bits of plan's length and last bytes. A key string
// decided under two plans (a key bound to plans of two services) has
// both entries in one set; with the plan in the tag, a decision under
// one plan mostly does not take the other's entry as a candidate (see
// take).
func planBits(plan string) uint32 {
	h := uint32(len(plan))
	for i := max(len(plan)-4, 0); i < len(plan); i++ {
		h = h*31 + uint32(plan[i])
	}
	return h & 0xff
}

// take returns the entry t holds for plan and key's string under its
// decision lock, marked used (stRef), or nil: an entry that lockIn
// refuses is left to the hash path. It locks each candidate its tag
// picks before reading it, so that the entry's cache line comes from
// the core that last decided on it once, for writing, instead of shared
// for the read and again for the lock. A candidate that is another
// entry (its tag matched by chance: another plan of the same key string
// whose planBits are the same, or another string) is unlocked untouched.
func (t *keyTable) take(plan, key string) *entry {
	i, tag := t.set(key, plan)
	for w := i; w < i+keyWays; w++ {
		if t.tags[w].Load() != tag {
			continue
		}
		if e := t.slots[w].Load(); e != nil && e.lockIn() {
			if same(e.key, key) && e.plan() == plan {
				e.mark()
				return e
			}
			e.unlock()
		}
	}
	return nil
}

// add puts e, whose key is key, into a free slot of key's set, if it is
// not there and one is free.
func (t *keyTable) add(key string, e *entry) {
	i, tag := t.set(key, e.plan())
	free := -1
	for w := i; w < i+keyWays; w++ {
		switch t.tags[w].Load() {
		case tag:
			if t.slots[w].Load() == e {
				return
			}
		case 0:
			if free < 0 {
				free = w
			}
		}
	}
	if free >= 0 && t.tags[free].CompareAndSwap(0, tag) {
		t.slots[free].Store(e)
	}
}

// remove frees the slot holding e, whose key is key.
func (t *keyTable) remove(key string, e *entry) {
	i, tag := t.set(key, e.plan())
	for w := i; w < i+keyWays; w++ {
		if t.tags[w].Load() == tag && t.slots[w].CompareAndSwap(e, nil) {
			t.tags[w].CompareAndSwap(tag, 0)
			return
		}
	}
}

// same reports whether a and b are one string: the same bytes at the
// same address.
func same(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// remember offers e, the entry of key, to the key table, which takes it
// if e's key is this very string and key's set has room.
func (l *Limiter) remember(key string, e *entry) {
	if len(key) != 0 && same(e.key, key) {
		l.keys.Load().add(key, e)
	}
}

// forget frees the key table's slot of e (which left the index), found
// for key.
func (l *Limiter) forget(key string, e *entry) {
	l.keys.Load().remove(key, e)
}

// grewBy counts n entries made, and has the key table doubled, in the
// background, when they outnumber a quarter of its slots (two per set:
// a set is then full for about one key in a thousand). sh.mu may be
// held.
func (l *Limiter) grewBy(n int64) {
	made := l.made.Add(n)
	t := l.keys.Load()
	if made <= int64(len(t.slots)/4) || len(t.slots) >= l.keysMax || !l.growing.CompareAndSwap(false, true) {
		return
	}
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.closed {
		l.growing.Store(false)
		return
	}
	l.bg.Go(func() {
		defer l.growing.Store(false)
		l.growKeys(t)
	})
}

// growKeys replaces the key table t with one twice its size holding its
// entries. Entries offered to t while the new table was filled are
// copied again once it is in place (one offered to t after that is
// offered again by its next decision). Entries released meanwhile were
// taken out of t only, so the new table is then swept (one released
// later is taken out of it by its release).
func (l *Limiter) growKeys(t *keyTable) {
	g := t.grown(min(2*len(t.slots), l.keysMax))
	l.keys.Store(g) // the only writer: growing is set
	t.copyTo(g)     // what was offered to t while g was filled
	g.sweep()
}

// grown returns a table of n slots holding t's entries in the index.
func (t *keyTable) grown(n int) *keyTable {
	g := newKeyTable(n)
	t.copyTo(g)
	return g
}

// copyTo adds t's entries in the index to g.
func (t *keyTable) copyTo(g *keyTable) {
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && !e.out() {
			g.add(e.key, e)
		}
	}
}

// sweep takes the entries out of the index out of t.
func (t *keyTable) sweep() {
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && e.out() {
			t.remove(e.key, e)
		}
	}
}

// tallyEvery is how many of a shard's decisions on the shorter path
// make one vote on whether to look entries up in the key table.
const tallyEvery = 64

// tally counts a decision on the shorter path by the hash, in sh:
// whether its key string was its entry's own or another string with the
// same bytes (see vote). sh.mu is held.
func (l *Limiter) tally(sh *shard, same bool) {
	if same {
		sh.same++
	} else {
		sh.other++
	}
	l.vote(sh)
}

// hitChunk is how many decisions through the key table an entry counts
// before it adds them to its shard's hits: the shard's cache line is
// written for one such decision in hitChunk.
const hitChunk = 16

// hit counts a decision on e through the key table: in e (lk's count
// bits, under e's decision lock, which the caller holds), and every
// hitChunk of them in e's shard, which then votes if its lock is free.
func (l *Limiter) hit(e *entry) {
	n := (e.q.lk>>1 + 1) % hitChunk
	e.q.lk = e.q.lk&lkHeld | n<<1
	if n != 0 {
		return
	}
	sh := l.shardOfEntry(e)
	sh.hits.Add(hitChunk)
	if sh.mu.TryLock() { // never waits: e's decision lock is held
		l.vote(sh)
		sh.mu.Unlock()
	}
}

// vote has sh vote, once it counted tallyEvery decisions on the shorter
// path (by the hash with the entry's own string or another, and through
// the key table), for or against looking entries up in the key table.
// The Limiter looks them up unless most shards (a shard that never voted
// counts as for) voted against at their last vote: a Limiter whose
// callers mostly pass new strings (a key lookup that allocates its IDs)
// stops, since the table would only cost them a cache miss, and starts
// again once most strings are their entries' own; a few keys do not
// turn the table off for all. (A key whose entry was made with another
// string than the one its requests bring counts as a new string each
// time, until the entry is evicted.) sh.mu is held.
func (l *Limiter) vote(sh *shard) {
	hits := sh.hits.Load()
	if sh.same+sh.other+hits < tallyEvery {
		return
	}
	sh.hits.Add(-hits) // hits added meanwhile count at the next vote
	off := sh.other > sh.same+hits
	sh.same, sh.other = 0, 0
	if off == sh.off {
		return
	}
	sh.off = off
	delta := int32(1)
	if !off {
		delta = -1
	}
	if probe := 2*l.against.Add(delta) <= shardCount; l.probe.Load() != probe {
		l.probe.Store(probe)
	}
}
