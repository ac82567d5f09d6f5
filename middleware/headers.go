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

// The response headers' map keys. The usage headers are assigned under
// their exact spelling, not http.CanonicalHeaderKey's ("X-Usageplan-Quota",
// "X-Api-Id"): net/http writes a map key as it is, and old clients read
// X-UsagePlan-Quota and X-Api-ID case-sensitively (Java's
// HttpURLConnection.getHeaderFields, for one). The price: Header.Get and
// Header.Set, which canonicalise, do not find these two; read them with
// h[middleware.HeaderQuota]. Direct assignment also spares Set's
// canonicalisation on every request.
const (
	canonQuota     = HeaderQuota
	canonRateLimit = HeaderRateLimit
	canonAPIID     = HeaderAPIID
	canonPolicy    = HeaderRateLimitPolicy // "Ratelimit-Policy" canonically
	canonState     = HeaderRateLimitState
	canonRetry     = HeaderRetryAfter
)

// derived is what the middleware computes once per registry snapshot
// rather than per request: per environment, the routing table;
// per plan, the limiter's limits and the static header values
// (X-UsagePlan-RateLimit, RateLimit-Policy); per API, X-Api-ID. Plans and
// APIs are keyed by ID (the snapshot hands out copies, so its pointers
// cannot be collected). The header slices are shared between
// responses; their capacity equals their length, so a handler that
// appends to one copies it.
type derived struct {
	snap   *usageplan.Snapshot
	routes map[string]*route.Table[target] // per environment
	plans  map[string]*planState           // by plan ID
	apis   map[string][]string             // X-Api-ID values, by API ID
}

type planState struct {
	limits      limiter.Limits
	qps, policy []string // policy: without the quota's item when its period is a calendar one
	quota       string   // "/<quota>" or ""
	// window is RateLimit-Policy for the calendar period seen last: a
	// calendar period's length in seconds varies (months, DST days), so
	// the quota's w is the current period's.
	window atomic.Pointer[policyWindow]
}

// policyWindow is a RateLimit-Policy value valid in [start, end) (Unix
// nanoseconds).
type policyWindow struct {
	start, end int64
	policy     []string
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
		plans: map[string]*planState{}, apis: map[string][]string{},
	}
	services := snap.Services()
	for i := range services {
		for j := range services[i].APIs {
			id := services[i].APIs[j].ID
			d.apis[id] = one(id)
		}
	}
	d.routes = buildRoutes(snap, service, d.apis)
	plans := snap.Plans()
	for i := range plans {
		d.plans[plans[i].ID] = newPlanState(snap, &plans[i])
	}
	return d
}

// newPlanState computes p's static header values. RateLimit-Policy
// follows draft-ietf-httpapi-ratelimit-headers-11 (the syntax of -09 on):
// a list of items, one per policy, each with its quota q and window w in
// seconds:
//
//	RateLimit-Policy: "qps";q=10;w=1, "quota";q=1000;w=86400
//
// A total quota never resets, so its item has no w. A calendar period's
// w is the length of the current period (see policyAt).
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
		if ps.limits.Period == limiter.Total {
			policy = joinPolicy(policy, `"quota";q=`+strconv.FormatInt(p.Quota, 10))
		}
	}
	ps.qps = one(qps)
	if policy != "" {
		ps.policy = one(policy)
	}
	return ps
}

func joinPolicy(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// policyAt returns RateLimit-Policy at now: the static value, or, for a
// calendar quota, the one of the period containing now, computed once
// per period.
func (ps *planState) policyAt(plan *usageplan.Plan, now time.Time) []string {
	if plan.Quota == limiter.Unlimited || ps.limits.Period == limiter.Total {
		return ps.policy
	}
	ns := now.UnixNano()
	if w := ps.window.Load(); w != nil && ns >= w.start && ns < w.end {
		return w.policy
	}
	start, end := ps.limits.Period.Window(now, ps.limits.Location)
	secs := int64(end.Sub(start) / time.Second)
	var static string
	if ps.policy != nil {
		static = ps.policy[0]
	}
	w := &policyWindow{start: start.UnixNano(), end: end.UnixNano(), policy: one(joinPolicy(static,
		`"quota";q=`+strconv.FormatInt(plan.Quota, 10)+";w="+strconv.FormatInt(secs, 10)))}
	ps.window.Store(w)
	return w.policy
}

func one(v string) []string { return []string{v}[:1:1] }

var unlimited = one("unlimited")

// setUsageHeaders writes the usage state on h: the static
// values from the cache, the dynamic ones (remaining quota, reset,
// retry) built in one buffer.
//
// The values live in scratch, which belongs to the request (see
// request.headers), so writing them allocates nothing.
func setUsageHeaders(h http.Header, scratch *headerScratch, ph *planState, plan *usageplan.Plan, d limiter.Decision, now time.Time) {
	h[canonRateLimit] = ph.qps
	if policy := ph.policyAt(plan, now); policy != nil {
		h[canonPolicy] = policy
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
