package planguardtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// Traffic is one step of a script: requests of one key on one API, at a
// steady rate or all at once. "Key K on API A at 20 rps for 60 s, then 5
// more" is two steps:
//
//	kit.Run(
//		planguardtest.Traffic{Key: "K", API: "A", Rate: 20, For: time.Minute},
//		planguardtest.Traffic{Key: "K", API: "A", Count: 5},
//	)
//
// The first sends 1200 requests, one every 50 ms from the clock's time,
// and leaves the clock 60 s later; the second sends 5 at that instant.
type Traffic struct {
	// Key is the secret_id that signs the requests, with the secret the
	// registry holds for it when each is sent; empty sends them unsigned.
	Key string
	// Secret, when set, signs with this secret instead of the
	// registry's: a wrong secret, or a key the registry does not have.
	Secret string
	// API is the ID or the name of the API called (a name must be
	// unique in the registry). The request uses its method (GET for
	// ANY) and its path pattern with every wildcard "{name}" or
	// "{name...}" replaced by "1" and "{$}" by nothing.
	API string
	// Environment is where the API is called; empty means the
	// middleware's Config.Environment if set, else the API's service's
	// only environment, else "release" if the service is published there
	// (or when the step names no API).
	Environment string
	// Method and Path, when set, replace the API's: Path is the path
	// after the environment segment ("/orders/42?x=1"), which the kit
	// adds unless the middleware fixes the environment. With Path set,
	// API may be empty: the middleware routes the request (RunLimiter
	// needs API).
	Method, Path string
	// Header holds more headers to send with each request.
	Header http.Header
	// Count is the number of requests. When it is 0, Rate × For (rounded
	// to the nearest whole request) is, and 1 when For is 0 too.
	Count int
	// Rate is how many requests per second; request i of the step goes
	// at i/Rate seconds from its start, and the step ends Count/Rate
	// seconds after it starts. 0 sends every request at one instant.
	Rate float64
	// For is the step's duration, with Rate.
	For time.Duration
	// After advances the clock before the step's first request.
	After time.Duration
}

// count returns how many requests t sends.
func (t Traffic) count() (int, error) {
	switch {
	case t.Count < 0 || t.Rate < 0 || t.For < 0 || t.After < 0 || math.IsNaN(t.Rate) || math.IsInf(t.Rate, 0):
		return 0, fmt.Errorf("planguardtest: %+v: Count, Rate, For and After must not be negative", t)
	case t.Count > 0:
		return t.Count, nil
	case t.For > 0 && t.Rate == 0:
		return 0, fmt.Errorf("planguardtest: %+v: For needs a Rate", t)
	case t.For > 0:
		return int(math.Round(t.Rate * t.For.Seconds())), nil
	}
	return 1, nil
}

// offset is when request i of t goes, from the step's start.
func (t Traffic) offset(i int) time.Duration {
	if t.Rate == 0 {
		return 0
	}
	return time.Duration(math.Round(float64(i) * float64(time.Second) / t.Rate))
}

// Run sends the steps, in order, through the middleware, advancing the
// clock as they say, and returns what every request got. It panics on a
// script that cannot be sent (an API or key the registry does not have,
// an environment it cannot pick, negative counts): that is a mistake in
// the test, not an outcome.
func (k *Kit) Run(steps ...Traffic) Result {
	var res Result
	k.script(steps, func(i int, t Traffic, c *call) {
		r := httptest.NewRequest(c.method, "http://planguard.test"+c.path, nil)
		for name, v := range t.Header {
			r.Header[name] = append(r.Header[name], v...)
		}
		if t.Key != "" {
			s := &keys.Signer{ID: t.Key, Secret: keys.NewSecret(t.Secret)}
			if t.Secret == "" {
				key, ok := k.Registry.Snapshot().Key(t.Key)
				if !ok {
					panic(fmt.Sprintf("planguardtest: step %d: the registry has no key %q (set Traffic.Secret to send an unknown key)", i, t.Key))
				}
				s.Secret = key.Secret
			}
			if err := s.SignAt(r, k.Clock.Now()); err != nil {
				panic(fmt.Sprintf("planguardtest: step %d: %v", i, err))
			}
		}
		res.Responses = append(res.Responses, k.do(r, i))
	})
	return res
}

// RunLimiter sends the steps straight to the limiter, as the middleware
// would after verifying each signature: each request is resolved to its
// plan in the registry (usageplan.Snapshot.Explain) and decided with the
// plan's limits (middleware.PlanLimits) at the kit's clock. No signature
// is checked, no handler runs and no header is set: a Response holds
// the Reason, the Decision and the Caller, and Status as the middleware
// would answer (200, 429; 401 for an unknown or disabled key, 403 when
// no plan binds it, 404 when no API matches). Every step needs an API.
// It shares the kit's limiter with Run: both consume the same quota. It
// panics as Run does.
func (k *Kit) RunLimiter(steps ...Traffic) Result {
	var res Result
	k.script(steps, func(i int, t Traffic, c *call) {
		if c.api == nil {
			panic(fmt.Sprintf("planguardtest: step %d: RunLimiter needs Traffic.API", i))
		}
		res.Responses = append(res.Responses, k.decide(i, t, c))
	})
	return res
}

// decide is one request of RunLimiter.
func (k *Kit) decide(i int, t Traffic, c *call) Response {
	now := k.Clock.Now()
	resp := Response{Step: i, At: now, Observed: true}
	snap := k.Registry.Snapshot()
	path, _, _ := strings.Cut(c.path, "?")
	if k.cfg.Middleware.Environment == "" {
		path = strings.TrimPrefix(path, "/"+c.env)
	}
	ex, err := snap.Explain(usageplan.Request{Service: c.service, Environment: c.env, Method: c.method, Path: path, Key: t.Key})
	api := ex.API
	resp.Caller = middleware.Caller{Service: c.service, Environment: c.env}
	switch {
	case errors.Is(err, keys.ErrNotFound) || errors.Is(err, keys.ErrDisabled):
		resp.Caller.API = &api
		resp.Status, resp.Reason = http.StatusUnauthorized, middleware.RefusedAuth
		return resp
	case errors.Is(err, usageplan.ErrNoPlan):
		resp.Caller.API = &api
		resp.Status, resp.Reason = http.StatusForbidden, middleware.RefusedNoPlan
		return resp
	case err != nil:
		resp.Status, resp.Reason = http.StatusNotFound, middleware.RefusedNoAPI
		return resp
	}
	resp.Caller.API = &api
	if api.Auth == usageplan.AuthNone {
		resp.Status, resp.Reason = http.StatusOK, middleware.Admitted
		return resp
	}
	plan := ex.Plan
	key, _ := snap.Key(t.Key)
	resp.Caller.SecretID, resp.Caller.KeyName, resp.Caller.Plan = key.ID, key.Name, &plan
	lim, _ := middleware.PlanLimits(snap, plan.ID, api.ID)
	lim.DryRun = lim.DryRun || k.cfg.Middleware.DryRun
	d, err := k.Limiter.AllowAt(context.Background(), now, limiter.Request{Plan: plan.ID, Key: key.ID, API: api.ID, Limits: lim})
	if err != nil {
		resp.Err = err
		resp.Status, resp.Reason = http.StatusServiceUnavailable, middleware.RefusedStore
		if k.cfg.Middleware.FailOpen {
			resp.Status, resp.Reason = http.StatusOK, middleware.Admitted
		}
		return resp
	}
	resp.Decision = d
	resp.Caller.Decision = middleware.Decision{Decided: true, Allowed: d.Allowed, Refused: d.Refused, DryRun: d.DryRun, Remaining: d.Remaining, Reset: d.Reset}
	resp.Status, resp.Reason = http.StatusOK, middleware.Admitted
	if d.Refused != limiter.LimitNone {
		resp.Reason, resp.DryRun = middleware.RefusedQPS, d.DryRun
		if d.Refused == limiter.LimitQuota {
			resp.Reason = middleware.RefusedQuota
		}
		if !d.DryRun {
			resp.Status = http.StatusTooManyRequests
		}
	}
	return resp
}

// call is a step's request, resolved.
type call struct {
	method, path string // path as sent: with the environment segment, and any query
	service, env string
	api          *usageplan.API // nil when the step names no API
}

// script runs steps, calling send for each request at its time.
func (k *Kit) script(steps []Traffic, send func(i int, t Traffic, c *call)) {
	for i, t := range steps {
		n, err := t.count()
		if err != nil {
			panic(fmt.Sprintf("planguardtest: step %d: %v", i, err))
		}
		c, err := k.resolve(t)
		if err != nil {
			panic(fmt.Sprintf("planguardtest: step %d: %v", i, err))
		}
		k.Clock.Sleep(t.After)
		for j := range n {
			send(i, t, c)
			k.Clock.Sleep(t.offset(j+1) - t.offset(j))
		}
	}
}

// resolve finds t's API, environment, method and path.
func (k *Kit) resolve(t Traffic) (*call, error) {
	c := &call{method: t.Method, env: t.Environment}
	var svc usageplan.Service
	if t.API != "" {
		found := 0
		for _, s := range k.Registry.Snapshot().Services() {
			for _, a := range s.APIs {
				if a.ID == t.API || a.Name == t.API {
					found++
					svc, c.api = s, &a
				}
			}
		}
		switch {
		case found == 0:
			return nil, fmt.Errorf("no API has the ID or name %q", t.API)
		case found > 1:
			return nil, fmt.Errorf("%d APIs are named %q: name it by its ID", found, t.API)
		}
		c.service = svc.ID
	} else if t.Path == "" {
		return nil, errors.New("a step needs an API or a Path")
	}
	fixed := k.cfg.Middleware.Environment
	if fixed != "" && c.env != "" && c.env != fixed {
		return nil, fmt.Errorf("the middleware serves environment %q only (Config.Middleware.Environment), not %q", fixed, c.env)
	}
	if c.env == "" {
		switch {
		case fixed != "":
			c.env = fixed
		case c.api != nil && len(svc.Environments) == 1:
			c.env = svc.Environments[0]
		case c.api == nil || svc.HasEnvironment(usageplan.EnvRelease):
			c.env = usageplan.EnvRelease
		default:
			return nil, errors.New("set Traffic.Environment: the kit cannot pick one")
		}
	}
	if c.method == "" {
		c.method = http.MethodGet
		if c.api != nil && c.api.Method != usageplan.MethodAny {
			c.method = c.api.Method
		}
	}
	path := t.Path
	if path == "" {
		path = fillPattern(c.api.Path)
	}
	if fixed == "" {
		path = "/" + c.env + path
	}
	c.path = path
	return c, nil
}

// fillPattern turns a ServeMux path pattern into a path it matches:
// each wildcard becomes "1", and "{$}" nothing.
func fillPattern(pattern string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		end := strings.IndexByte(pattern[open:], '}')
		if end < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		b.WriteString(pattern[:open])
		if pattern[open:open+end+1] != "{$}" {
			b.WriteString("1")
		}
		pattern = pattern[open+end+1:]
	}
}
