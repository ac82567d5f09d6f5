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
	limitState
	qps   []string // X-UsagePlan-RateLimit
	quota string   // "/<quota>" or ""
	// apis holds, for each API the plan throttles, its limits and
	// policies; the other APIs use the plan's.
	apis map[string]*limitState
}

// limitState is the limits of a request and its RateLimit-Policy.
type limitState struct {
	limits limiter.Limits
	// policy is RateLimit-Policy without the quota's item when its
	// period is a calendar one (see policyAt); nil when no limit applies.
	policy []string
	static string // policy's value
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
	dryRun  bool       // Config.DryRun
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
	d := derive(snap, c.service, c.dryRun)
	if cur == nil || snap.Version() > cur.snap.Version() {
		c.cur.Store(d)
	}
	return d
}

func derive(snap *usageplan.Snapshot, service string, dryRun bool) *derived {
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
	for p := range snap.AllPlans() { // without their keys: a change costs no copy of them
		d.plans[p.ID] = newPlanState(snap, &p, dryRun)
	}
	return d
}

// newPlanState computes p's static header values. RateLimit-Policy
// follows draft-ietf-httpapi-ratelimit-headers-11 (the syntax of -09 on):
// a list of items, one per policy, each with its quota q and window w in
// seconds:
//
//	RateLimit-Policy: "throttle";q=5;w=1, "qps";q=10;w=1, "per_minute";q=300;w=60, "quota";q=1000;w=86400
//
// A bucket's item gives its rate (its burst has no parameter in the
// draft). A total quota never resets, so its item has no w. A calendar
// period's w is the length of the current period (see policyAt).
func newPlanState(snap *usageplan.Snapshot, p *usageplan.Plan, dryRun bool) *planState {
	lim := limitsOf(snap, p)
	lim.DryRun = lim.DryRun || dryRun
	ps := &planState{}
	qps := "unlimited"
	if p.QPS != limiter.Unlimited {
		qps = strconv.FormatInt(p.QPS, 10)
	}
	if p.Quota != limiter.Unlimited {
		ps.quota = "/" + strconv.FormatInt(p.Quota, 10)
	}
	ps.qps = one(qps)
	ps.limitState.set(lim, "")
	for api, th := range p.Throttles {
		if ps.apis == nil {
			ps.apis = map[string]*limitState{}
		}
		ls := &limitState{}
		withThrottle := lim
		withThrottle.Throttle = throttleOf(th)
		ls.set(withThrottle, `"throttle";q=`+strconv.FormatInt(th.QPS, 10)+";w=1")
		ps.apis[api] = ls
	}
	return ps
}

// set sets ls's limits and static policy, after first (an item, or "").
func (ls *limitState) set(lim limiter.Limits, first string) {
	ls.limits = lim
	policy := first
	if lim.QPS != limiter.Unlimited {
		policy = joinPolicy(policy, `"qps";q=`+strconv.FormatInt(lim.QPS, 10)+";w=1")
	}
	for _, w := range lim.Windows {
		policy = joinPolicy(policy, strconv.Quote(w.Name)+";q="+strconv.FormatInt(w.Requests, 10)+";w="+strconv.FormatInt(seconds(w.Per), 10))
	}
	if lim.Quota != limiter.Unlimited && lim.Period == limiter.Total {
		policy = joinPolicy(policy, `"quota";q=`+strconv.FormatInt(lim.Quota, 10))
	}
	ls.static = policy
	if policy != "" {
		ls.policy = one(policy)
	}
}

// limitsFor returns the limits of a request on api.
func (ps *planState) limitsFor(api string) *limitState {
	if ls := ps.apis[api]; ls != nil {
		return ls
	}
	return &ps.limitState
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
func (ls *limitState) policyAt(now time.Time) []string {
	lim := &ls.limits
	if lim.Quota == limiter.Unlimited || lim.Period == limiter.Total {
		return ls.policy
	}
	ns := now.UnixNano()
	if w := ls.window.Load(); w != nil && ns >= w.start && ns < w.end {
		return w.policy
	}
	start, end := lim.Period.Window(now, lim.Location)
	secs := int64(end.Sub(start) / time.Second)
	w := &policyWindow{start: start.UnixNano(), end: end.UnixNano(), policy: one(joinPolicy(ls.static,
		`"quota";q=`+strconv.FormatInt(lim.Quota, 10)+";w="+strconv.FormatInt(secs, 10)))}
	ls.window.Store(w)
	return w.policy
}

func one(v string) []string { return []string{v}[:1:1] }

var unlimited = one("unlimited")

// setPlanHeaders sets the headers that the plan alone decides, not the
// key's usage: X-UsagePlan-RateLimit, RateLimit-Policy, and
// X-UsagePlan-Quota for an unlimited quota. A request served while the
// store failed (FailOpen) gets these only: its usage is not known.
func setPlanHeaders(h http.Header, ps *planState, ls *limitState, now time.Time) {
	h[canonRateLimit] = ps.qps
	if policy := ls.policyAt(now); policy != nil {
		h[canonPolicy] = policy
	}
	if ls.limits.Quota == limiter.Unlimited {
		h[canonQuota] = unlimited
	}
}

// setUsageHeaders writes the usage state on h: the static
// values from the cache, the dynamic ones (remaining quota, the policy
// closest to exhaustion, retry) built in one buffer. A dry run's
// decision is reported as if enforced, but a request it served gets no
// Retry-After.
//
// The values live in scratch, which belongs to the request (see
// request.headers), so writing them allocates nothing.
func setUsageHeaders(h http.Header, scratch *headerScratch, ps *planState, ls *limitState, d *limiter.Decision, now time.Time) {
	setPlanHeaders(h, ps, ls, now)
	quota := ls.limits.Quota != limiter.Unlimited
	b := scratch.buf[:0]
	var cuts [3]int // ends of quota, state, retry in b
	n := 0
	if quota {
		b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
		b = append(b, ps.quota...)
		cuts[n] = len(b)
		n++
	}
	p, state := d.Closest()
	if state {
		b = strconv.AppendQuote(b, p.Name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, max(p.Remaining, 0), 10)
		switch {
		case p.Reset <= 0 && p.Window == 0:
			// A total quota never resets: no t, spent or not.
		case p.Remaining == 0:
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, seconds(p.Reset), 10)
		default:
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, ceilSeconds(p.Reset), 10)
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
	// values usually fit in it; should append ever have outgrown it (a
	// long window name), b is a fresh array of its own.
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
	if quota {
		h[canonQuota] = vals[i : i+1 : i+1]
		i++
	}
	if state {
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
	return max(ceilSeconds(d), 1)
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64((max(d, 0) + time.Second - 1) / time.Second)
}
