package limiter

import "math/bits"

// The per-shard indexes are open-addressing tables (linear probing,
// deletion by backward shift, no tombstones), addressed by the 64-bit
// hash a decision computes anyway. They cost 16 bytes per slot and are
// kept at most maxLoad full, instead of a map and a linked list per
// entry.

// maxLoad bounds a table's load to loadNum/loadDen.
const loadNum, loadDen = 4, 5

// home is h's first slot in a table of n slots (n > 0).
func home(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// slot is an entries table slot: the entry's hash with its CLOCK bit in
// bit 0 (set on use, cleared by the hand), and the entry (nil: empty).
type slot struct {
	h uint64
	e *entry
}

const refBit = 1

// entries is an index of entries by hash, bounded to max entries; when
// full, a CLOCK hand picks the entry to evict: the first one not used
// since the hand last passed.
type entries struct {
	slots []slot
	n     int // entries held
	max   int // entries at most
	hand  int
}

// find returns the slot index of hash h, or -1. Only the hash is
// compared: the caller checks the entry's identity.
func (t *entries) find(h uint64) int {
	if t.n == 0 {
		return -1
	}
	h &^= refBit
	for i := home(h, len(t.slots)); ; i++ {
		if i == len(t.slots) {
			i = 0
		}
		s := &t.slots[i]
		if s.e == nil {
			return -1
		}
		if s.h&^refBit == h {
			return i
		}
	}
}

// insert adds e under h, which is not in t. When t is full, it first
// evicts one entry, passed to evict.
func (t *entries) insert(h uint64, e *entry, evict func(*entry)) {
	if t.n >= t.max {
		t.evictOne(evict)
	}
	if (t.n+1)*loadDen > len(t.slots)*loadNum {
		t.grow()
	}
	h &^= refBit
	for i := home(h, len(t.slots)); ; i++ {
		if i == len(t.slots) {
			i = 0
		}
		if t.slots[i].e == nil {
			t.slots[i] = slot{h: h | refBit, e: e}
			t.n++
			return
		}
	}
}

// touch marks slot i used, writing only when it was not: a hot key's
// slot is not written on every decision.
func (t *entries) touch(i int) {
	if s := &t.slots[i]; s.h&refBit == 0 {
		s.h |= refBit
	}
}

// evictOne removes the entry the CLOCK hand picks.
func (t *entries) evictOne(evict func(*entry)) {
	for {
		if t.hand >= len(t.slots) {
			t.hand = 0
		}
		s := &t.slots[t.hand]
		switch {
		case s.e == nil:
		case s.h&refBit != 0:
			s.h &^= refBit
		case s.e.q.st.Load()&stRef != 0: // used through the key table
			s.e.q.st.And(^stRef)
		default:
			e := s.e
			t.remove(t.hand)
			evict(e)
			return
		}
		t.hand++
	}
}

// remove empties slot i, shifting back the entries after it that would
// no longer be found.
func (t *entries) remove(i int) {
	n := len(t.slots)
	j := i
	for {
		j++
		if j == n {
			j = 0
		}
		s := t.slots[j]
		if s.e == nil {
			break
		}
		k := home(s.h&^refBit, n)
		// s may move to i unless its home lies cyclically in (i, j].
		if i <= j && (k <= i || k > j) || i > j && k <= i && k > j {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = slot{}
	t.n--
}

// grow doubles the table (up to what max entries need) and rehashes.
func (t *entries) grow() {
	limit := t.max*loadDen/loadNum + 1
	size := min(max(2*len(t.slots), 8), limit)
	if size <= len(t.slots) {
		return
	}
	old := t.slots
	t.slots = make([]slot, size)
	t.n = 0
	for _, s := range old {
		if s.e == nil {
			continue
		}
		for i := home(s.h&^refBit, size); ; i++ {
			if i == size {
				i = 0
			}
			if t.slots[i].e == nil {
				t.slots[i] = s
				t.n++
				break
			}
		}
	}
	t.hand = 0
}

// all returns every entry held.
func (t *entries) all() []*entry {
	out := make([]*entry, 0, t.n)
	for _, s := range t.slots {
		if s.e != nil {
			out = append(out, s.e)
		}
	}
	return out
}

// xslot is a slot of the extra buckets: the bucket's hash (0: empty)
// and its theoretical arrival time.
type xslot struct {
	h   uint64
	tat int64
}

// extras holds the theoretical arrival times of the buckets beyond a
// key's QPS bucket (windows, throttles), by a hash of (plan, key,
// bucket). A bucket whose time has passed is full, exactly as one that is
// not there, so such slots are dropped first when room is needed; past
// max, the slot with the earliest time among a sample goes (it comes
// back full: at most one extra burst, as for an evicted key).
type extras struct {
	slots []xslot
	n     int
	max   int
	hand  int
}

// find returns the slot of h, or -1.
func (x *extras) find(h uint64) int {
	if x.n == 0 {
		return -1
	}
	for i := home(h, len(x.slots)); ; i++ {
		if i == len(x.slots) {
			i = 0
		}
		switch x.slots[i].h {
		case 0:
			return -1
		case h:
			return i
		}
	}
}

// set stores tat for h at slot i (from find; -1 when h is not there).
func (x *extras) set(i int, h uint64, tat, now int64) {
	if i >= 0 {
		x.slots[i].tat = tat
		return
	}
	if x.n >= x.max {
		x.evictOne(now)
	}
	if (x.n+1)*loadDen > len(x.slots)*loadNum {
		x.grow()
	}
	for i := home(h, len(x.slots)); ; i++ {
		if i == len(x.slots) {
			i = 0
		}
		if x.slots[i].h == 0 {
			x.slots[i] = xslot{h, tat}
			x.n++
			return
		}
	}
}

// sample is how many slots evictOne looks at.
const sample = 16

// evictOne drops a full bucket, or the bucket closest to full, among the
// next sample slots from the hand.
func (x *extras) evictOne(now int64) {
	victim := -1
	for seen := 0; seen < sample || victim < 0; x.hand++ {
		if x.hand >= len(x.slots) {
			x.hand = 0
		}
		s := x.slots[x.hand]
		if s.h == 0 {
			continue
		}
		seen++
		if victim < 0 || s.tat < x.slots[victim].tat {
			victim = x.hand
		}
		if s.tat <= now {
			break
		}
	}
	x.remove(victim)
}

func (x *extras) remove(i int) {
	n := len(x.slots)
	j := i
	for {
		j++
		if j == n {
			j = 0
		}
		s := x.slots[j]
		if s.h == 0 {
			break
		}
		k := home(s.h, n)
		if i <= j && (k <= i || k > j) || i > j && k <= i && k > j {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = xslot{}
	x.n--
}

func (x *extras) grow() {
	limit := x.max*loadDen/loadNum + 1
	size := min(max(2*len(x.slots), 8), limit)
	if size <= len(x.slots) {
		return
	}
	old := x.slots
	x.slots = make([]xslot, size)
	x.n = 0
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		for i := home(s.h, size); ; i++ {
			if i == size {
				i = 0
			}
			if x.slots[i].h == 0 {
				x.slots[i] = s
				x.n++
				break
			}
		}
	}
	x.hand = 0
}
