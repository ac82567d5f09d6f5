package middleware

import (
	"net/url"
	"strings"

	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/usageplan"
)

// target is what the middleware's routing tables hold for an API.
type target struct {
	service string
	api     *usageplan.API // the snapshot's own
	apiID   []string       // the X-Api-ID header value
}

// buildRoutes returns, per environment, one routing table of the APIs of
// every service published there (of service alone when it is not
// empty), so that a request costs one lookup however many services
// there are. ids holds each API's X-Api-ID value.
func buildRoutes(snap *usageplan.Snapshot, service string, ids map[string][]string) map[string]*route.Table[target] {
	tables := map[string]*route.Table[target]{}
	services := snap.Services()
	for i := range services {
		s := &services[i]
		if service != "" && s.ID != service {
			continue
		}
		for _, env := range s.Environments {
			t := tables[env]
			if t == nil {
				t = route.New[target]()
				tables[env] = t
			}
			for j := range s.APIs {
				a := &s.APIs[j]
				if err := t.Add(a.Method, a.Path, target{service: s.ID, api: a, apiID: ids[a.ID]}); err != nil {
					// The registry refuses a snapshot whose tables do not build.
					panic("middleware: a validated API does not route: " + a.ID + ": " + err.Error())
				}
			}
		}
	}
	return tables
}

// urlCopy is the handler's URL: the client's, with the environment
// prefix removed from the path.
type urlCopy struct {
	url.URL
}

// split sets u to from without its first path segment, and returns that
// segment, which names the environment. The segment must be literal as
// the client sent it: an escape in it (/release%2Forders, /rel%65ase/x)
// is refused (false), never decoded into another path. The rest keeps
// its escaped form.
func (u *urlCopy) split(from *url.URL) (env string, ok bool) {
	p, raw := from.Path, from.RawPath // raw: as sent, where it differs from p's default escaping
	if len(p) < 2 || p[0] != '/' {
		return "", false
	}
	end := strings.IndexByte(p[1:], '/') + 1 // of the segment; 0 if it is the last
	if end == 0 {
		end = len(p)
	}
	if raw != "" && (!strings.HasPrefix(raw, p[:end]) || len(raw) > end && raw[end] != '/') {
		return "", false
	}
	u.URL = *from
	u.Path = p[end:]
	switch {
	case u.Path == "":
		u.Path, u.RawPath = "/", ""
	case raw != "":
		u.RawPath = raw[end:]
	}
	return p[1:end], true
}
