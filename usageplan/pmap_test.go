package usageplan

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// A pmap behaves as a Go map, and a version taken before a change does
// not see it, also when its owner changes nodes in place.
func TestPmapMatchesAMapAndKeepsOldVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m pmap[int]
	want := map[string]int{}
	type version struct {
		m    pmap[int]
		want map[string]int
	}
	var versions []version
	o := &owner{}
	for i := range 20000 {
		k := strconv.Itoa(rng.IntN(3000))
		switch rng.IntN(4) {
		case 0:
			m = m.Delete(o, k)
			delete(want, k)
		case 1:
			var added bool
			m, added = m.Add(o, k, i)
			_, had := want[k]
			require.Equal(t, !had, added)
			if !had {
				want[k] = i
			}
		default:
			m = m.Set(o, k, i)
			want[k] = i
		}
		if i%500 == 0 {
			versions = append(versions, version{m, maps.Clone(want)})
			o = &owner{} // the next txn
		}
	}
	versions = append(versions, version{m, want})
	for _, v := range versions {
		require.Equal(t, len(v.want), v.m.Len())
		got := map[string]int{}
		for k, x := range v.m.All() {
			got[k] = x
		}
		require.Equal(t, v.want, got)
		for k, x := range v.want {
			y, ok := v.m.Get(k)
			require.True(t, ok)
			require.Equal(t, x, y)
		}
		_, ok := v.m.Get("absent")
		require.False(t, ok)
	}
}

// Keys whose hashes collide in every bit still work (the lists at the
// bottom of the trie).
func TestPmapCollisionLists(t *testing.T) {
	real := phash
	phash = func(key string) uint64 { return 42 }
	defer func() { phash = real }()
	var m pmap[int]
	for i := range 5 {
		m = m.Set(nil, strconv.Itoa(i), i)
	}
	require.Equal(t, 5, m.Len())
	v, ok := m.Get("3")
	require.True(t, ok)
	require.Equal(t, 3, v)
	old := m
	m = m.Delete(nil, "3")
	_, ok = m.Get("3")
	require.False(t, ok)
	require.Equal(t, 4, m.Len())
	_, ok = old.Get("3")
	require.True(t, ok)
	for i := range 5 {
		m = m.Delete(nil, strconv.Itoa(i))
	}
	require.Equal(t, 0, m.Len())
	require.Nil(t, m.root)
}
