package middleware

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// Canonical forms of the response headers, for direct map assignment
// (http.Header.Set would canonicalise, and allocate, on every request).
var (
	canonQuota     = http.CanonicalHeaderKey(HeaderQuota)
	canonRateLimit = http.CanonicalHeaderKey(HeaderRateLimit)
	canonAPIID     = http.CanonicalHeaderKey(HeaderAPIID)
	canonPolicy    = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	canonState     = http.CanonicalHeaderKey(HeaderRateLimitState)
	canonRetry     = http.CanonicalHeaderKey(HeaderRetryAfter)
)

// derived is what the middleware computes once per registry snapshot
// rather than per request: per environment, the routing table;
// per plan, the limiter's limits and the static header values
// (X-UsagePlan-RateLimit, RateLimit-Policy); per API, X-Api-ID. Plans and
// APIs are keyed by the snapshot's own pointers (see usageplan.Snapshot),
// which hash faster than IDs. The header slices are shared between
// responses; their capacity equals their length, so a handler that
// appends to one copies it.
type derived struct {
	snap   *usageplan.Snapshot
	routes map[string]*route.Table[target] // per environment
	plans  map[*usageplan.Plan]*planState
	apis   map[*usageplan.API][]string
}

type planState struct {
	limits      limiter.Limits
	qps, policy []string
	quota       string // "/<quota>" or ""
}

// derivedCache holds the derived state of the latest snapshot seen.
type derivedCache struct {
	service string     // Config.Service: route in this service only; "" is all
	mu      sync.Mutex // serialises rebuilds
	cur     atomic.Pointer[derived]
}

// get returns snap's derived state. The cache keeps the newest snapshot's:
// a request that loaded its snapshot just before a change gets a state
// of its own, and does not evict the newer one.
func (c *derivedCache) get(snap *usageplan.Snapshot) *derived {
	if d := c.cur.Load(); d != nil && d.snap == snap {
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.cur.Load()
	if cur != nil && cur.snap == snap {
		return cur
	}
	d := derive(snap, c.service)
	if cur == nil || snap.Version() > cur.snap.Version() {
		c.cur.Store(d)
	}
	return d
}

func derive(snap *usageplan.Snapshot, service string) *derived {
	d := &derived{
		snap:  snap,
		plans: map[*usageplan.Plan]*planState{}, apis: map[*usageplan.API][]string{},
	}
	services := snap.Services()
	for i := range services {
		for j := range services[i].APIs {
			a := &services[i].APIs[j]
			d.apis[a] = one(a.ID)
		}
	}
	d.routes = buildRoutes(snap, service, d.apis)
	plans := snap.Plans()
	for i := range plans {
		d.plans[&plans[i]] = newPlanState(snap, &plans[i])
	}
	return d
}

func newPlanState(snap *usageplan.Snapshot, p *usageplan.Plan) *planState {
	ps := &planState{limits: limitsOf(snap, p)}
	qps := "unlimited"
	policy := ""
	if p.QPS != limiter.Unlimited {
		qps = strconv.FormatInt(p.QPS, 10)
		policy = `"qps";q=` + qps + ";w=1"
	}
	if p.Quota != limiter.Unlimited {
		ps.quota = "/" + strconv.FormatInt(p.Quota, 10)
		if policy != "" {
			policy += ", "
		}
		policy += `"quota";q=` + strconv.FormatInt(p.Quota, 10)
	}
	ps.qps = one(qps)
	if policy != "" {
		ps.policy = one(policy)
	}
	return ps
}

func one(v string) []string { return []string{v}[:1:1] }

var unlimited = one("unlimited")

// setUsageHeaders writes the usage state of SPEC §7 on h: the static
// values from the cache, the dynamic ones (remaining quota, reset,
// retry) built in one buffer.
//
// The values live in scratch, which belongs to the request (see
// request.headers), so writing them allocates nothing.
func setUsageHeaders(h http.Header, scratch *headerScratch, ph *planState, plan *usageplan.Plan, d limiter.Decision, now time.Time) {
	h[canonRateLimit] = ph.qps
	if ph.policy != nil {
		h[canonPolicy] = ph.policy
	}
	if plan.Quota == limiter.Unlimited {
		h[canonQuota] = unlimited
	}
	b := scratch.buf[:0]
	var cuts [3]int // ends of quota, state, retry in b
	n := 0
	if plan.Quota != limiter.Unlimited {
		b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
		b = append(b, ph.quota...)
		cuts[n] = len(b)
		n++
	}
	switch {
	case d.Refused == limiter.LimitQPS:
		b = append(b, `"qps";r=0;t=`...)
		b = strconv.AppendInt(b, seconds(d.RetryAfter), 10)
		cuts[n] = len(b)
		n++
	case plan.Quota != limiter.Unlimited:
		b = append(b, `"quota";r=`...)
		b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
		if !d.Reset.IsZero() {
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, seconds(d.Reset.Sub(now)), 10)
		}
		cuts[n] = len(b)
		n++
	}
	retry := !d.Allowed && d.RetryAfter > 0
	if retry {
		b = strconv.AppendInt(b, seconds(d.RetryAfter), 10)
		cuts[n] = len(b)
		n++
	}
	if n == 0 {
		return
	}
	// scratch.buf is never written again, so the string may alias it. The
	// values fit in it (at most 78 bytes with int64 limits); should append
	// ever have outgrown it, b is a fresh array of its own.
	var s string
	if len(b) <= len(scratch.buf) && &b[0] == &scratch.buf[0] {
		s = unsafe.String(&scratch.buf[0], len(b))
	} else {
		s = string(b)
	}
	vals := scratch.vals[:n]
	start := 0
	for i := range n {
		vals[i] = s[start:cuts[i]]
		start = cuts[i]
	}
	i := 0
	if plan.Quota != limiter.Unlimited {
		h[canonQuota] = vals[i : i+1 : i+1]
		i++
	}
	if d.Refused == limiter.LimitQPS || plan.Quota != limiter.Unlimited {
		h[canonState] = vals[i : i+1 : i+1]
		i++
	}
	if retry {
		h[canonRetry] = vals[i : i+1 : i+1]
	}
}

// headerScratch holds the dynamic header values of one response.
type headerScratch struct {
	buf  [96]byte
	vals [3]string
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}
