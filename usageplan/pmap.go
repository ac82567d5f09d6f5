package usageplan

import (
	"hash/maphash"
	"iter"
	"math/bits"
)

// pmap is a persistent map from strings to V: a hash array mapped trie
// (32 children per node, on 5 bits of the key's hash per level). A
// change copies the nodes on the path to its key, so a snapshot that
// holds a pmap shares everything else with the next, and a lookup or a
// change costs O(log32 n). Within one owner (a txn), nodes the owner
// made are changed in place, so that a bulk load does not copy a path
// per key.
//
// The zero pmap is empty. A pmap is immutable once its owner is done;
// reading it is safe for concurrent use.
type pmap[V any] struct {
	root *hnode[V]
	n    int
}

// owner marks the nodes one txn made; nil owns nothing.
type owner struct{ _ byte }

type hnode[V any] struct {
	bitmap uint32
	slots  []hslot[V]
	owner  *owner
}

// hslot is a child node, or an entry when child is nil.
type hslot[V any] struct {
	key   string
	val   V
	child *hnode[V]
}

var pmapSeed = maphash.MakeSeed()

// phash hashes a key; a test replaces it to make keys collide.
var phash = func(key string) uint64 { return maphash.String(pmapSeed, key) }

const (
	hbits     = 5
	hmask     = 1<<hbits - 1
	hmaxShift = 60 // below this, nodes branch; at it, they are lists of colliding keys
)

// Len returns the number of entries.
func (m pmap[V]) Len() int { return m.n }

// Get returns the value of key.
func (m pmap[V]) Get(key string) (V, bool) {
	h := phash(key)
	n := m.root
	for shift := uint(0); n != nil; shift += hbits {
		if shift >= hmaxShift {
			for i := range n.slots {
				if n.slots[i].key == key {
					return n.slots[i].val, true
				}
			}
			break
		}
		bit := uint32(1) << ((h >> shift) & hmask)
		if n.bitmap&bit == 0 {
			break
		}
		s := &n.slots[bits.OnesCount32(n.bitmap&(bit-1))]
		if s.child == nil {
			if s.key == key {
				return s.val, true
			}
			break
		}
		n = s.child
	}
	var zero V
	return zero, false
}

// Set returns m with key set to val, changing in place the nodes o owns.
func (m pmap[V]) Set(o *owner, key string, val V) pmap[V] {
	added := false
	m.root = m.root.set(o, phash(key), 0, key, val, &added)
	if added {
		m.n++
	}
	return m
}

// Add returns m with key set to val and whether key is new; a key m
// holds already keeps its value (m is returned as it is).
func (m pmap[V]) Add(o *owner, key string, val V) (pmap[V], bool) {
	added := false
	root := m.root.add(o, phash(key), 0, key, val, &added)
	if !added {
		return m, false
	}
	m.root = root
	m.n++
	return m, true
}

// add is set, but leaves an existing key's value alone (and its nodes
// uncopied).
func (n *hnode[V]) add(o *owner, h uint64, shift uint, key string, val V, added *bool) *hnode[V] {
	if n == nil || shift >= hmaxShift {
		if n != nil {
			for i := range n.slots {
				if n.slots[i].key == key {
					return n
				}
			}
		}
		return n.set(o, h, shift, key, val, added)
	}
	bit := uint32(1) << ((h >> shift) & hmask)
	if n.bitmap&bit == 0 {
		return n.set(o, h, shift, key, val, added)
	}
	i := bits.OnesCount32(n.bitmap & (bit - 1))
	s := n.slots[i]
	switch {
	case s.child != nil:
		child := s.child.add(o, h, shift+hbits, key, val, added)
		if child == s.child {
			return n
		}
		n = n.editable(o, 0)
		n.slots[i].child = child
		return n
	case s.key == key:
		return n
	}
	return n.set(o, h, shift, key, val, added)
}

// Delete returns m without key.
func (m pmap[V]) Delete(o *owner, key string) pmap[V] {
	if _, ok := m.Get(key); !ok {
		return m
	}
	m.root = m.root.del(o, phash(key), 0, key)
	m.n--
	return m
}

// All iterates the entries in no particular order.
func (m pmap[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) { m.root.each(yield) }
}

func (n *hnode[V]) each(yield func(string, V) bool) bool {
	if n == nil {
		return true
	}
	for i := range n.slots {
		s := &n.slots[i]
		if s.child != nil {
			if !s.child.each(yield) {
				return false
			}
		} else if !yield(s.key, s.val) {
			return false
		}
	}
	return true
}

// editable returns n if o owns it and it has room for extra more
// slots, else a copy that o owns, with exactly that room: nodes hold no
// spare capacity, which would cost memory per key.
func (n *hnode[V]) editable(o *owner, extra int) *hnode[V] {
	if n.owner == o && o != nil && cap(n.slots)-len(n.slots) >= extra {
		return n
	}
	c := &hnode[V]{bitmap: n.bitmap, owner: o, slots: make([]hslot[V], len(n.slots), len(n.slots)+extra)}
	copy(c.slots, n.slots)
	return c
}

func (n *hnode[V]) set(o *owner, h uint64, shift uint, key string, val V, added *bool) *hnode[V] {
	if n == nil {
		n = &hnode[V]{owner: o}
	}
	if shift >= hmaxShift {
		for i := range n.slots {
			if n.slots[i].key == key {
				n = n.editable(o, 0)
				n.slots[i].val = val
				return n
			}
		}
		n = n.editable(o, 1)
		n.slots = append(n.slots, hslot[V]{key: key, val: val})
		*added = true
		return n
	}
	bit := uint32(1) << ((h >> shift) & hmask)
	i := bits.OnesCount32(n.bitmap & (bit - 1))
	if n.bitmap&bit == 0 {
		n = n.editable(o, 1)
		n.slots = append(n.slots, hslot[V]{})
		copy(n.slots[i+1:], n.slots[i:])
		n.slots[i] = hslot[V]{key: key, val: val}
		n.bitmap |= bit
		*added = true
		return n
	}
	s := n.slots[i]
	switch {
	case s.child != nil:
		child := s.child.set(o, h, shift+hbits, key, val, added)
		if child == s.child {
			return n
		}
		n = n.editable(o, 0)
		n.slots[i].child = child
	case s.key == key:
		n = n.editable(o, 0)
		n.slots[i].val = val
	default: // another key here: push both one level down
		var child *hnode[V]
		child = child.set(o, phash(s.key), shift+hbits, s.key, s.val, new(bool))
		child = child.set(o, h, shift+hbits, key, val, added)
		n = n.editable(o, 0)
		n.slots[i] = hslot[V]{child: child}
	}
	return n
}

// del removes key, which n holds; it returns nil for an empty node.
func (n *hnode[V]) del(o *owner, h uint64, shift uint, key string) *hnode[V] {
	if shift >= hmaxShift {
		for i := range n.slots {
			if n.slots[i].key == key {
				return n.without(o, i, 0)
			}
		}
		return n
	}
	bit := uint32(1) << ((h >> shift) & hmask)
	i := bits.OnesCount32(n.bitmap & (bit - 1))
	s := n.slots[i]
	if s.child == nil {
		return n.without(o, i, bit)
	}
	child := s.child.del(o, h, shift+hbits, key)
	if child == nil {
		return n.without(o, i, bit)
	}
	if len(child.slots) == 1 && child.slots[0].child == nil && shift+hbits < hmaxShift {
		// A lone entry moves up, so that the trie stays as shallow as
		// its keys need.
		n = n.editable(o, 0)
		n.slots[i] = child.slots[0]
		return n
	}
	n = n.editable(o, 0)
	n.slots[i].child = child
	return n
}

func (n *hnode[V]) without(o *owner, i int, bit uint32) *hnode[V] {
	if len(n.slots) == 1 {
		return nil
	}
	n = n.editable(o, 0)
	copy(n.slots[i:], n.slots[i+1:])
	n.slots[len(n.slots)-1] = hslot[V]{}
	n.slots = n.slots[:len(n.slots)-1]
	n.bitmap &^= bit
	return n
}
