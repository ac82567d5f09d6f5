package usageplan

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/planguard/planguard/internal/route"
)

// RouteConflictError is an API whose pattern another API's pattern
// matches as specifically in an environment they share (or, for a
// service published nowhere, in its own service), so that no routing
// could tell which of the two a request is for. Other and OtherPath name
// the API registered first.
type RouteConflictError struct {
	Environment  string // "" for a service published to no environment
	API          string
	Pattern      string // "GET /orders"
	Other        string // the other API's ID
	OtherPath    string // its JSON path: "services[0].apis[2]"
	OtherPattern string
	Detail       string // how the patterns overlap, as http.ServeMux says it
}

func (e *RouteConflictError) Error() string {
	where := ""
	if e.Environment != "" {
		where = " in environment " + strconv.Quote(e.Environment)
	}
	return e.API + " " + strconv.Quote(e.Pattern) + " conflicts" + where + " with " + e.Other + " " +
		strconv.Quote(e.OtherPattern) + " (" + e.OtherPath + "): " + e.Detail
}

// apiRef is what a routing table holds for an API: the API, its service,
// and where both are in the model (for error messages).
type apiRef struct {
	service *Service
	api     *API
	si, ai  int
}

func (a apiRef) path() string { return index(index("services", a.si)+".apis", a.ai) }

// routeBuilder builds the routing table of each environment, one service
// at a time, reporting each API whose pattern is invalid or conflicts at
// most once.
type routeBuilder struct {
	tables map[string]*route.Table[apiRef]
}

func newRouteBuilder() *routeBuilder {
	return &routeBuilder{tables: map[string]*route.Table[apiRef]{}}
}

// add registers the APIs of s, m.services[si], in the table of every
// environment s is published to (in a table of its own if none, so that
// its patterns are checked all the same). s must point into the model
// the snapshot will hold, so that routing hands out the snapshot's APIs.
func (b *routeBuilder) add(ps *problems, s *Service, si int) {
	var tables []*route.Table[apiRef]
	envs := make([]string, 0, len(s.Environments))
	for _, env := range s.Environments {
		t := b.tables[env]
		if t == nil {
			t = route.New[apiRef]()
			b.tables[env] = t
		}
		if !contains(tables, t) { // an environment listed twice is reported elsewhere
			tables = append(tables, t)
			envs = append(envs, env)
		}
	}
	if len(tables) == 0 {
		tables, envs = []*route.Table[apiRef]{route.New[apiRef]()}, []string{""}
	}
	for ai := range s.APIs {
		a := &s.APIs[ai]
		if pathReason(a.Path) != "" {
			continue // reported by validateService
		}
		ref := apiRef{service: s, api: a, si: si, ai: ai}
		for i, t := range tables {
			if err := t.Add(a.Method, a.Path, ref); err != nil {
				ps.add(ref.path()+".path", routeError(err, envs[i], ref))
				break // once per API, not once per environment
			}
		}
	}
}

func routeError(err error, env string, ref apiRef) error {
	ce, ok := err.(*route.ConflictError[apiRef])
	if !ok {
		return err
	}
	return &RouteConflictError{
		Environment: env, API: ref.api.ID, Pattern: ce.Pattern,
		Other: ce.Other.api.ID, OtherPath: ce.Other.path(), OtherPattern: ce.OtherPattern, Detail: ce.Detail,
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// route finds the API that method and path (decoded, without an
// environment prefix) route to in env, and its service.
func (s *Snapshot) route(env, method, path string) (apiRef, bool) {
	t := s.st.routes[env]
	if t == nil {
		return apiRef{}, false
	}
	r := &http.Request{Method: method, URL: &url.URL{Path: path}, Host: "localhost"}
	return t.Route(r, new(route.Probe[apiRef]))
}
