package usageplan

import (
	"errors"
	"fmt"

	"github.com/planguard/planguard/keys"
)

// Reasons Explain gives for a request no plan serves. Test with errors.Is.
var (
	ErrNotPublished = errors.New("usageplan: service is not published to the environment")
	ErrNoAPI        = errors.New("usageplan: no API matches the request")
	ErrNoPlan       = errors.New("usageplan: no usage plan binds the key here")
)

// Request is a call to explain: which key calls which method and path of
// which service environment.
type Request struct {
	Service     string
	Environment string
	Method      string
	Path        string // without any environment prefix
	Key         string // secret_id; ignored for NONE APIs
}

// Explanation says how a request would be served.
type Explanation struct {
	API API
	// Plan is the plan whose limits apply (Plan.QPS, Plan.Burst,
	// Plan.Limits, Plan.Quota, Plan.QuotaPeriod, Plan.DryRun, Plan.Alerts), or the
	// zero Plan when API.Auth is AuthNone.
	Plan Plan
	// Throttle is the plan's throttle of the API (Plan.Throttles), if it
	// has one.
	Throttle *Throttle
}

// Explain answers "does this key calling this path resolve to a plan, and
// under which limits?" without a server, for unit tests of a
// configuration. It does not check signatures or consume quota. The
// request is routed as the middleware routes it: in the one routing table
// of the environment, across its services, so a path that an API of
// another service matches more specifically, and a path that is not
// canonical (dot segments, encoded slashes), are ErrNoAPI. When no
// plan serves the request, the error says why: ErrNotFound (unknown
// service), ErrNotPublished, ErrNoAPI, keys.ErrNotFound, keys.ErrDisabled
// or ErrNoPlan, wrapped with the details.
func (s *Snapshot) Explain(req Request) (Explanation, error) {
	svc, ok := s.svcIdx[req.Service]
	if !ok {
		return Explanation{}, notFound("service", req.Service)
	}
	if !svc.HasEnvironment(req.Environment) {
		return Explanation{}, fmt.Errorf("%s/%s: %w", req.Service, req.Environment, ErrNotPublished)
	}
	ref, ok := s.route(req.Environment, req.Method, req.Path)
	if !ok {
		return Explanation{}, fmt.Errorf("%s %s in %s: %w", req.Method, req.Path, req.Service, ErrNoAPI)
	}
	if ref.service.ID != req.Service {
		return Explanation{}, fmt.Errorf("%s %s in %s routes to %s of %s: %w",
			req.Method, req.Path, req.Environment, ref.api.ID, ref.service.ID, ErrNoAPI)
	}
	api := *ref.api
	ex := Explanation{API: api}
	if api.Auth == AuthNone {
		return ex, nil
	}
	k, ok := s.Key(req.Key)
	if !ok {
		return ex, fmt.Errorf("key %s: %w", req.Key, keys.ErrNotFound)
	}
	if k.Status == keys.Disabled {
		return ex, fmt.Errorf("key %s: %w", req.Key, keys.ErrDisabled)
	}
	plan, ok := s.Resolve(req.Service, req.Environment, api.ID, req.Key)
	if !ok {
		return ex, fmt.Errorf("key %s for %s in %s/%s: %w", req.Key, api.ID, req.Service, req.Environment, ErrNoPlan)
	}
	ex.Plan = plan.clone() // a copy: the caller may change it; the snapshot must not see that
	if th, ok := ex.Plan.Throttles[api.ID]; ok {
		ex.Throttle = &th
	}
	return ex, nil
}
