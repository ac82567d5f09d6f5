package usageplan

import "github.com/planguard/planguard/limiter"

// The built-in environments every service may be published to.
const (
	EnvTest    = "test"
	EnvPrepub  = "prepub"
	EnvRelease = "release"
)

// Auth is how an API authenticates callers.
type Auth string

const (
	AuthSecret Auth = "SECRET" // key-pair signatures; the default
	AuthNone   Auth = "NONE"   // no key; no plan applies
)

// MethodAny is the API method that matches every HTTP method.
const MethodAny = "ANY"

// Service is a set of APIs published to environments.
type Service struct {
	ID           string   // service- + 8 of [a-z0-9]
	Name         string   // 1–50 of [A-Za-z0-9_]
	Environments []string // test, prepub, release, or custom 1–50 of [a-z0-9_-]
	APIs         []API
}

// API is one operation of a service.
type API struct {
	ID     string // api- + 8 of [a-z0-9]
	Name   string // 1–50 of [A-Za-z0-9_]
	Method string // GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY
	// Path is a Go 1.22 http.ServeMux path pattern: "/orders/{id}".
	Path string
	Auth Auth // AuthSecret when empty
	// Cost is the quota units one admitted request takes, 1 to MaxCost;
	// 0 means 1. Rate limits (QPS, windows, throttles) count requests.
	Cost int64
}

// MaxCost is the largest API.Cost. It is below limiter.MaxUnits, the
// most units one charge takes.
const MaxCost = 1_000_000

// MaxCost fits in one charge (a compile-time check).
const _ uint64 = limiter.MaxUnits - MaxCost

// Units returns the quota units one request of a takes: its Cost, or 1
// when Cost is 0.
func (a API) Units() int64 { return max(a.Cost, 1) }

// HasEnvironment reports whether s is published to env.
func (s Service) HasEnvironment(env string) bool {
	for _, e := range s.Environments {
		if e == env {
			return true
		}
	}
	return false
}

// API returns the API with the given ID.
func (s Service) API(id string) (API, bool) {
	for _, a := range s.APIs {
		if a.ID == id {
			return a, true
		}
	}
	return API{}, false
}

// APIIDs returns the IDs of every API of s, in order.
func (s Service) APIIDs() []string {
	ids := make([]string, len(s.APIs))
	for i, a := range s.APIs {
		ids[i] = a.ID
	}
	return ids
}

func (s Service) clone() Service {
	s.Environments = append([]string(nil), s.Environments...)
	s.APIs = append([]API(nil), s.APIs...)
	return s
}
