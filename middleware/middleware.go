package middleware

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

// Config holds the middleware's optional settings; the zero value is the
// documented default.
type Config struct {
	// Service is the ID of the service this handler serves; empty means
	// every service (see the package doc).
	Service string
	// Environment fixes the environment; empty means the first path
	// segment names it, as on the old gateway's default domain.
	Environment string
	// Verifier configures signature checks (clock skew, legacy Date,
	// required headers, algorithms, replay cache).
	Verifier keys.VerifierConfig
	// FailOpen serves requests when the quota store fails; by default
	// they are refused with 503. A client cannot cause such a failure:
	// store calls do not inherit the request's cancellation. A key
	// lookup that fails (Registry.LookupKey) is refused with 503 all the
	// same: an unauthenticated request is never served.
	FailOpen bool
	// DryRun makes every plan a dry run: each decision is made, counted
	// and reported (headers, Observer) as if enforced, but a request that
	// a limit refuses is served, consumes nothing, and gets no
	// Retry-After; its Event has DryRun set. Authentication and routing
	// are enforced all the same. A plan can be a dry run on its own
	// (limiter.Limits.DryRun).
	DryRun bool
	// StoreTimeout bounds each store call of a request (the key lookup,
	// the limiter's call); zero leaves it to the store's own timeouts (a
	// Redis client's read and write timeouts). The client's own deadline
	// and cancellation never apply.
	StoreTimeout time.Duration
	// ForwardHeaders sets X-Api-SecretId, X-Api-UsagePlanId, X-Api-ID and
	// X-Api-Environment on the request the handler sees.
	ForwardHeaders bool
	// StripAuthorization removes the Authorization header from the
	// request the handler sees, so that a handler that logs or forwards
	// its headers does not pass the signature on. By default the handler
	// sees it, as backends of the old gateway did.
	StripAuthorization bool
	// ErrorHandler writes refusals; nil means WriteJSON.
	ErrorHandler ErrorHandler
	// Now is the clock; nil means time.Now. It is called once per
	// request, from the goroutine serving it, so it must be safe for
	// concurrent use.
	Now func() time.Time
	// Observer, when set, is called once per request with its outcome
	// (see Event); nil costs nothing.
	Observer Observer
	// Meter, when set, records in the usage history (package metering)
	// each request a plan's limiter decided: admitted, with its units,
	// or refused for QPS or quota. Recording is in memory; the Recorder
	// writes to its store at its own interval. nil records nothing.
	Meter *metering.Recorder
}

// Registry is what a Middleware serves from: the services, plans and
// bindings of a snapshot, and the keys. *usageplan.Registry implements
// it; so can a test's stand-in or a wrapper. Both methods are on every
// request's path, called from the goroutines serving requests: they must
// be safe for concurrent use and fast.
type Registry interface {
	// Snapshot returns the state to serve a request by: the middleware
	// calls it once per request, first, and routes, resolves the plan
	// and takes the limits from it.
	Snapshot() *usageplan.Snapshot
	// LookupKey finds the key that signed a request (keys.Lookup); it is
	// called after Snapshot, so the key is never older than the
	// snapshot. An error matching keys.ErrNotFound refuses the request
	// as signed by an unknown key (401). Any other error means the
	// lookup could not tell: the request is refused with 503 and
	// MessageStoreFailed (Reason RefusedStore), whatever FailOpen says,
	// never as an unknown key. ctx has the request's values but not its
	// cancellation, and StoreTimeout's deadline.
	LookupKey(ctx context.Context, id string) (keys.Key, error)
}

// Middleware enforces usage plans on the handlers it wraps (Wrap). It
// is safe for concurrent use: Wrap may be called at any time, and the
// handlers it returns serve requests concurrently. The zero Middleware
// is not usable: build one with New.
type Middleware struct {
	reg      Registry
	lim      *limiter.Limiter
	verifier *keys.Verifier
	cfg      Config
	onError  ErrorHandler
	now      func() time.Time
	derived  derivedCache
}

// New builds the middleware once; m.Wrap(handler) puts handler behind
// it (r.Use(m.Wrap) with chi). Changes to reg apply from the next
// request. When reg also has a ResetUsageWith method, as
// *usageplan.Registry does, New registers lim with it, so that a key
// deleted from the registry leaves no consumed quota behind.
func New(reg Registry, lim *limiter.Limiter, cfg Config) (*Middleware, error) {
	if reg == nil || lim == nil {
		return nil, errors.New("middleware: nil Registry or Limiter")
	}
	if r, ok := reg.(*usageplan.Registry); ok && r == nil {
		return nil, errors.New("middleware: nil Registry or Limiter")
	}
	v, err := keys.NewVerifier(reg, cfg.Verifier)
	if err != nil {
		return nil, err
	}
	m := &Middleware{reg: reg, lim: lim, verifier: v, cfg: cfg, onError: cfg.ErrorHandler, now: cfg.Now}
	m.derived.service, m.derived.dryRun = cfg.Service, cfg.DryRun
	if m.onError == nil {
		m.onError = WriteJSON
	}
	if m.now == nil {
		m.now = time.Now
	}
	if r, ok := reg.(interface {
		ResetUsageWith(usageplan.UsageResetter)
	}); ok {
		r.ResetUsageWith(limiterUsage{lim: lim, snap: reg.Snapshot, now: m.now}) // a deleted key's usage goes with it
	}
	return m, nil
}

// Wrap returns next behind the usage plans.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
}

// request is the handler's view of r, its context and the caller, in one
// allocation.
type request struct {
	context.Context
	probe   route.Probe[target] // routing's scratch
	view    http.Request
	caller  Caller
	url     urlCopy
	headers headerScratch
	ownsHdr bool       // view.Header is a copy, free to change
	charged chargeable // set when admitted under a plan (see Charge)
}

// writableHeader returns the view's header map, copied from the client's
// request on first use, so that the request the middleware was given is
// left as it was (verification reads it, outer middleware may log it).
func (q *request) writableHeader() http.Header {
	if !q.ownsHdr {
		q.view.Header = q.view.Header.Clone()
		if q.view.Header == nil {
			q.view.Header = http.Header{}
		}
		q.ownsHdr = true
	}
	return q.view.Header
}

func (q *request) Value(key any) any {
	switch key {
	case contextKey{}:
		return &q.caller
	case chargeKey{}:
		return q
	}
	return q.Context.Value(key)
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	now := m.now()
	snap := m.reg.Snapshot()
	q := &request{Context: r.Context()}
	var ev *Event // the Observer's, allocated only when there is one
	if m.cfg.Observer != nil {
		ev = &Event{start: time.Now(), Revision: snap.Version(), Method: r.Method, Path: r.URL.Path}
	}
	// WithContext is the only way to give a request a context; its copy
	// stays on the stack, and only q is allocated.
	q.view = *r.WithContext(q)
	view := &q.view
	q.stripHeaders(r, m.cfg.StripAuthorization)

	// The API authorised is the API the handler's view routes to: the
	// view is routed, and a path that could be read two ways is refused.
	env, ok := m.cfg.Environment, true
	if env == "" {
		env, ok = q.url.split(r.URL)
		view.URL = &q.url.URL
	}
	derived := m.derived.get(snap)
	var t target
	if table := derived.routes[env]; ok && table != nil {
		t, ok = table.Route(view, &q.probe)
	} else {
		ok = false
	}
	if !ok {
		if derived.routes[env] != nil { // a known one: not whatever the path began with
			q.caller.Environment = env
		}
		m.refuse(w, r, q, ev, &Error{Status: http.StatusNotFound, Message: "There is no api match uri[" + r.URL.Path + "].", Reason: RefusedNoAPI})
		return
	}
	api := t.api
	c := &q.caller
	c.Service, c.Environment, c.API = t.service, env, api
	if api.Auth == usageplan.AuthNone {
		m.admit(w, q, ev, t.apiID, next)
		return
	}

	lctx, lcancel := q.storeContext(m.cfg.StoreTimeout)
	key, err := m.verifier.VerifyIn(lctx, r, m.reg, now)
	if lcancel != nil {
		lcancel()
	}
	if err != nil {
		if le := (*keys.LookupError)(nil); errors.As(err, &le) {
			// Not the client's doing, and never served: fail-open is for
			// the quota, not for authentication.
			m.refuse(w, r, q, ev, &Error{Status: http.StatusServiceUnavailable, Message: MessageStoreFailed, Cause: err, Reason: RefusedStore})
			return
		}
		e := &Error{Status: http.StatusUnauthorized, Message: "HMAC signature cannot be verified.", Cause: err, Reason: RefusedAuth}
		if ae := (*keys.AuthError)(nil); errors.As(err, &ae) {
			e.Status, e.Message = ae.Status(), ae.Message() // 429 when the key's replay cache is full
			if ev != nil {
				ev.AuthReason = ae.Reason
			}
			if ae.RetryAfter > 0 {
				w.Header()[canonRetry] = []string{strconv.FormatInt(seconds(ae.RetryAfter), 10)}
			}
		}
		m.refuse(w, r, q, ev, e)
		return
	}
	plan, ok := snap.Resolve(t.service, env, api.ID, key.ID)
	if !ok {
		m.refuse(w, r, q, ev, &Error{Status: http.StatusForbidden, Message: MessageNoPlan, Reason: RefusedNoPlan})
		return
	}
	c.SecretID, c.KeyName, c.Plan = key.ID, key.Name, plan
	ps := derived.plans[plan.ID] // plan is snap's, so it is there
	ls := ps.limitsFor(api.ID)
	ctx, cancel := q.storeContext(m.cfg.StoreTimeout)
	var storeStart time.Time
	if ev != nil {
		storeStart = time.Now()
	}
	dv, err := m.lim.AllowAt(ctx, now, limiter.Request{Plan: plan.ID, Key: key.ID, API: api.ID, Units: api.Cost, Limits: ls.limits})
	d := &dv
	if cancel != nil {
		cancel()
	}
	if ev != nil {
		ev.StoreCalled, ev.StoreElapsed, ev.StoreErr = true, time.Since(storeStart), err
	}
	if m.cfg.Meter != nil {
		m.meter(now, plan.ID, key.ID, ps.limits.Location, api.Units(), d.Refused, err)
	}
	if err != nil {
		if m.cfg.FailOpen {
			setPlanHeaders(w.Header(), ps, ls, now) // the usage is not known
			q.charged = chargeable{m: m, lim: ls}
			m.admit(w, q, ev, t.apiID, next)
			return
		}
		m.refuse(w, r, q, ev, &Error{Status: http.StatusServiceUnavailable, Message: MessageStoreFailed, Cause: err, Reason: RefusedStore})
		return
	}
	c.Decision = Decision{Decided: true, Allowed: d.Allowed, Refused: d.Refused, DryRun: d.DryRun, Remaining: d.Remaining, Reset: d.Reset}
	if ev != nil {
		ev.Decision = dv // the whole decision, policies included
	}
	setUsageHeaders(w.Header(), &q.headers, ps, ls, d, now)
	if d.Refused != limiter.LimitNone {
		e := &Error{Status: http.StatusTooManyRequests, Message: MessageQPS, Reason: RefusedQPS, Decision: *d}
		if d.Refused == limiter.LimitQuota {
			e.Message, e.Reason = MessageQuota, RefusedQuota
		}
		if d.DryRun {
			// Served: observed as the refusal it would have been.
			if ev != nil {
				ev.DryRun = true
				ev.Reason = e.Reason
			}
			q.charged = chargeable{m: m, lim: ls, dry: true}
			m.admit(w, q, ev, t.apiID, next)
			return
		}
		w.Header()[canonAPIID] = t.apiID
		m.refuse(w, r, q, ev, e)
		return
	}
	q.charged = chargeable{m: m, lim: ls}
	m.admit(w, q, ev, t.apiID, next)
}

// admit serves the handler's view: X-Api-ID (apiID) on the response,
// the caller headers on the view (ForwardHeaders).
func (m *Middleware) admit(w http.ResponseWriter, q *request, ev *Event, apiID []string, next http.Handler) {
	w.Header()[canonAPIID] = apiID
	m.forward(q)
	if ev != nil {
		m.observe(q, ev, ev.Reason) // Admitted, or a dry run's refusal
	}
	next.ServeHTTP(w, &q.view)
}

func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, q *request, ev *Event, e *Error) {
	e.Caller = &q.caller
	if ev != nil {
		m.observe(q, ev, e.Reason)
	}
	drain(w, r)
	m.onError(w, r, e)
}

// observe hands q's outcome to the Observer.
func (m *Middleware) observe(q *request, ev *Event, reason Reason) {
	ev.Reason, ev.Caller, ev.Elapsed = reason, &q.caller, time.Since(ev.start)
	m.cfg.Observer(q.Context, ev)
}

// forward sets the caller headers on the handler's view (ForwardHeaders).
func (m *Middleware) forward(q *request) {
	if !m.cfg.ForwardHeaders {
		return
	}
	h, c := q.writableHeader(), &q.caller
	h.Set(HeaderEnvironment, c.Environment)
	h.Set(HeaderAPIID, c.API.ID)
	if c.SecretID != "" {
		h.Set(HeaderSecretID, c.SecretID)
		h.Set(HeaderUsagePlanID, c.Plan.ID)
	}
}
