package usageplan

import (
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// Snapshot is an immutable, consistent view of a registry at one moment.
// It is safe for concurrent use; the lookups used per request (Key,
// Resolve, Route) do not allocate (Route allocates what http.ServeMux
// does). Slices in returned values, and the *API and *Plan that Route and
// Resolve return, are shared with the snapshot and must not be modified.
// Those pointers are the snapshot's own: within one snapshot, the same
// API or plan is always the same pointer (&Services()[i].APIs[j],
// &Plans()[i]), so they can key a per-snapshot cache.
type Snapshot struct {
	m        *model
	version  uint64
	services map[string]*compiledService
	keys     map[string]*keys.Key
	plans    map[string]*compiledPlan
	table    *binding.Table
}

type compiledService struct {
	Service
	mux *http.ServeMux
}

type compiledPlan struct {
	plan *Plan // in m.plans
	loc  *time.Location
}

// apiHandler marks the API a ServeMux pattern belongs to. Route serves it
// to a routeProbe, which records the API; it writes nothing. (It is never
// served to anything else: the muxes stay inside the snapshot.)
type apiHandler struct{ api *API }

func (a apiHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if p, ok := w.(*routeProbe); ok {
		p.api = a.api
	}
}

// routeProbe is the ResponseWriter Route hands the ServeMux: it records
// the API if one matched, and swallows what the ServeMux's own not-found,
// method-not-allowed and redirect handlers write.
type routeProbe struct {
	api *API
	h   http.Header
}

func (p *routeProbe) Header() http.Header {
	if p.h == nil {
		p.h = http.Header{}
	}
	return p.h
}
func (*routeProbe) Write(b []byte) (int, error) { return len(b), nil }
func (*routeProbe) WriteHeader(int)             {}

var probes = sync.Pool{New: func() any { return new(routeProbe) }}

func compile(m *model, c *checked, version uint64) *Snapshot {
	s := &Snapshot{
		m:        m,
		version:  version,
		services: make(map[string]*compiledService, len(m.services)),
		keys:     make(map[string]*keys.Key, len(m.keys)),
		plans:    make(map[string]*compiledPlan, len(m.plans)),
		table:    c.table,
	}
	for i := range m.services {
		s.services[m.services[i].ID] = &compiledService{Service: m.services[i], mux: c.muxes[i]}
	}
	for i := range m.keys {
		s.keys[m.keys[i].ID] = &m.keys[i]
	}
	for i := range m.plans {
		s.plans[m.plans[i].ID] = &compiledPlan{plan: &m.plans[i], loc: c.locs[i]}
	}
	return s
}

// Version counts the changes applied to the registry; it grows by one per
// successful change.
func (s *Snapshot) Version() uint64 { return s.version }

// Services returns every service, sorted by ID.
func (s *Snapshot) Services() []Service { return s.m.services }

// Keys returns every key, sorted by ID.
func (s *Snapshot) Keys() []keys.Key { return s.m.keys }

// Plans returns every plan, sorted by ID.
func (s *Snapshot) Plans() []Plan { return s.m.plans }

// Service returns the service with the given ID.
func (s *Snapshot) Service(id string) (Service, bool) {
	c, ok := s.services[id]
	if !ok {
		return Service{}, false
	}
	return c.Service, true
}

// Key returns the key with the given secret_id.
func (s *Snapshot) Key(id string) (keys.Key, bool) {
	k, ok := s.keys[id]
	if !ok {
		return keys.Key{}, false
	}
	return *k, true
}

// Plan returns the plan with the given ID.
func (s *Snapshot) Plan(id string) (Plan, bool) {
	p, ok := s.plans[id]
	if !ok {
		return Plan{}, false
	}
	return *p.plan, true
}

// PlanLocation returns the plan's validated time zone.
func (s *Snapshot) PlanLocation(id string) (*time.Location, bool) {
	p, ok := s.plans[id]
	if !ok {
		return nil, false
	}
	return p.loc, true
}

// Resolve returns the plan that binds key for api in service/environment
// (SPEC §4), and false if none does. It does not look at the key's status.
// The plan is the snapshot's: read it, do not modify it.
func (s *Snapshot) Resolve(service, environment, api, key string) (*Plan, bool) {
	id, ok := s.table.Lookup(service, environment, api, key)
	if !ok {
		return nil, false
	}
	return s.plans[id].plan, true
}

// MatchAPI returns the API of service whose method and path pattern match
// r, using http.ServeMux's rules (most specific pattern wins; GET also
// matches HEAD). It returns false when no API matches, when the service is
// unknown, and when the ServeMux would redirect (an unclean path). It is
// Route on a copy of r, so r is left as it was.
func (s *Snapshot) MatchAPI(service string, r *http.Request) (API, bool) {
	routed := *r
	a, ok := s.Route(service, &routed)
	if !ok {
		return API{}, false
	}
	return *a, true
}

// Route is MatchAPI that also routes r as http.ServeMux.ServeHTTP does:
// on a match, r.Pattern is the API's pattern and r.PathValue returns its
// wildcards, for the handler behind. Route modifies r (on no match it
// clears them), so pass a request of your own, not one you were given.
// It allocates only what ServeMux allocates for the wildcards. The API
// is the snapshot's: read it, do not modify it.
func (s *Snapshot) Route(service string, r *http.Request) (*API, bool) {
	c, ok := s.services[service]
	if !ok || c.mux == nil {
		return nil, false
	}
	p := probes.Get().(*routeProbe)
	c.mux.ServeHTTP(p, r)
	a := p.api
	p.api = nil
	clear(p.h)
	probes.Put(p)
	if a == nil {
		r.Pattern = "" // a redirect leaves the pattern it would redirect to
		return nil, false
	}
	return a, true
}

// matchPath is MatchAPI for a bare method and path.
func (s *Snapshot) matchPath(service, method, path string) (API, bool) {
	return s.MatchAPI(service, &http.Request{Method: method, URL: &url.URL{Path: path}, Host: "localhost"})
}
