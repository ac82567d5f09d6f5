package limiter

import (
	"hash/maphash"
	"math/bits"
)

// maxBuckets is the most buckets a request passes: the throttle, the
// QPS bucket and the windows.
const maxBuckets = 2 + MaxWindows

// bucketEval is one bucket's verdict on a request, before anything is
// stored.
type bucketEval struct {
	limit  Limit
	ok     bool
	window uint8  // the window's index, for LimitWindow
	inline int8   // the entry's inline bucket, or -1
	slot   int32  // the extras slot, -1 when the bucket is not stored
	h      uint64 // extras hash; 0 for the QPS bucket, kept in the entry
	tat    int64  // before the request
	// next is the time after the request when ok; when refused, the
	// wait: ns until the bucket would admit it.
	next int64
}

// evaluation is every bucket's verdict on one request.
type evaluation struct {
	b  [maxBuckets]bucketEval
	n  int
	ok bool // every bucket admits
}

// Names of the policies a Decision reports.
const (
	nameThrottle = "throttle"
	nameQPS      = "qps"
	nameQuota    = "quota"
)

// extraHash is the extras hash of bucket i (a window's index, or
// MaxWindows for the throttle, mixed with the API's hash) of the entry
// hashed h. Its high 32 bits are h's, so that an entry's buckets have
// neighbouring homes in the extras table (one or two cache lines for
// all of them); its low 32 bits mix all of h with i and api. It is never
// 0.
func extraHash(h uint64, i uint64, api uint64) uint64 {
	x := h ^ (i+1)*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(api, 17)
	// splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	x = h&^0xffffffff | x&0xffffffff
	if x == 0 {
		x = 1
	}
	return x
}

// rates are the parameters of a request's buckets, computed before the
// shard's lock is taken: each is a division, and the throttle's needs
// the API's hash.
type rates struct {
	thr gcra   // when Limits.Throttle.QPS > 0
	api uint64 // the throttle's API hash
	qps gcra   // when Limits.QPS is limited
	win [MaxWindows]gcra
}

// ratesOf returns r's rates. r's Limits are valid.
func (l *Limiter) ratesOf(r *Request, rt *rates) {
	lim := &r.Limits
	if lim.Throttle.QPS > 0 {
		rt.thr = perSecond(lim.Throttle.QPS, lim.Throttle.Burst)
		rt.api = maphash.String(l.seed, r.API)
	}
	if lim.QPS != Unlimited {
		rt.qps = perSecond(lim.QPS, lim.Burst)
	}
	for i, w := range lim.Windows {
		rt.win[i] = windowBucket(w)
	}
}

// eval decides r's buckets, of rates rt, at ns for e (hashed h), in sh,
// without changing them. sh.mu and e's decision lock are held.
func (l *Limiter) eval(ev *evaluation, sh *shard, e *entry, h uint64, r *Request, rt *rates, ns int64) {
	lim := &r.Limits
	ev.ok = true
	ev.n = 0
	if lim.Throttle.QPS > 0 {
		xh := extraHash(h, MaxWindows, rt.api)
		slot, tat := sh.extra(xh)
		ev.add(LimitThrottle, 0, &rt.thr, xh, slot, tat, ns)
	}
	if lim.QPS != Unlimited {
		ev.add(LimitQPS, 0, &rt.qps, 0, -1, e.tat, ns)
	}
	inline := e.inline()
	for i := range lim.Windows {
		if i < len(inline) {
			ev.add(LimitWindow, uint8(i), &rt.win[i], 0, -1, inline[i], ns)
			ev.b[ev.n-1].inline = int8(i)
			continue
		}
		xh := extraHash(h, uint64(i), 0)
		slot, tat := sh.extra(xh)
		ev.add(LimitWindow, uint8(i), &rt.win[i], xh, slot, tat, ns)
	}
}

// add evaluates one bucket.
func (ev *evaluation) add(limit Limit, window uint8, g *gcra, xh uint64, slot int, tat, ns int64) {
	b := &ev.b[ev.n]
	ev.n++
	b.limit, b.window, b.h, b.slot, b.tat, b.inline = limit, window, xh, int32(slot), tat, -1
	next, wait, ok := g.take(tat, ns, 1)
	if !ok {
		next = wait
	}
	b.next, b.ok = next, ok
	ev.ok = ev.ok && b.ok
}

// extra returns the slot and time of the extra bucket xh (-1 and 0, a
// full bucket, when it is not stored). sh.mu is held.
func (sh *shard) extra(xh uint64) (int, int64) {
	i := sh.extras.find(xh)
	if i < 0 {
		return -1, 0
	}
	return i, sh.extras.slots[i].tat
}

// commit stores the buckets' new times. Extras slots found by eval are
// still valid: sh.mu has been held since, or eval ran again. sh.mu and
// e's decision lock are held.
func (ev *evaluation) commit(sh *shard, e *entry, ns int64) {
	for i := range ev.n {
		b := &ev.b[i]
		switch {
		case b.inline >= 0:
			e.inline()[b.inline] = b.next
			continue
		case b.h == 0:
			e.tat = b.next
			continue
		}
		sh.extras.set(int(b.slot), b.h, b.next, ns)
		if b.slot < 0 {
			// set may have moved slots: later buckets of this request
			// look theirs up again.
			for j := i + 1; j < ev.n; j++ {
				if ev.b[j].h != 0 {
					ev.b[j].slot = int32(sh.extras.find(ev.b[j].h))
				}
			}
		}
	}
}
