package middleware

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// invariantConfig: services that share environments, a catch-all of the
// lowest service ID, wildcards that reach past their prefix if a path is
// re-interpreted, ANY APIs, and SECRET APIs beside NONE ones.
const invariantConfig = `{
  "services": [
    {"id": "service-0000aaaa", "name": "files", "environments": ["test", "dev"],
     "apis": [
       {"id": "api-catch001", "name": "catchAll", "method": "ANY", "path": "/{file...}", "auth": "NONE"}
     ]},
    {"id": "service-aaaa0001", "name": "public", "environments": ["release", "test"],
     "apis": [
       {"id": "api-pub00001", "name": "public", "method": "ANY", "path": "/public/{rest...}", "auth": "NONE"},
       {"id": "api-file0001", "name": "file", "method": "GET", "path": "/files/{name}", "auth": "NONE"},
       {"id": "api-file0002", "name": "upload", "method": "POST", "path": "/files/{name}"},
       {"id": "api-root0001", "name": "root", "method": "GET", "path": "/x/{$}", "auth": "NONE"}
     ]},
    {"id": "service-bbbb0001", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-ord00001", "name": "orders", "method": "GET", "path": "/orders"},
       {"id": "api-ord00002", "name": "order", "method": "GET", "path": "/orders/{id}"},
       {"id": "api-ord00003", "name": "deleteOrder", "method": "DELETE", "path": "/orders/{id}"},
       {"id": "api-adm00001", "name": "admin", "method": "ANY", "path": "/admin/{p...}"},
       {"id": "api-pair0001", "name": "pair", "method": "GET", "path": "/a/{x}/b"}
     ]}
  ],
  "keys": [{"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"}],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold",
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-aaaa0001", "environment": "release"},
                  {"service": "service-aaaa0001", "environment": "test"},
                  {"service": "service-bbbb0001", "environment": "release"},
                  {"service": "service-bbbb0001", "environment": "test"}]}
  ]
}`

// invariantModes are the middleware configurations the fuzz target
// serves through: both environment modes, every service or one.
var invariantModes = []Config{
	{},
	{Service: "service-bbbb0001"},
	{Environment: "release"},
	{Environment: "test", ForwardHeaders: true},
	{Environment: "test", Service: "service-0000aaaa"},
	{Environment: "dev"},
}

var wildcard = regexp.MustCompile(`\{([^}.$]+)(\.\.\.)?\}`)

// FuzzRequestPath checks the invariant of the request path over the whole
// middleware: for any method, raw request target, environment mode and
// service selection, either the request is refused, or the API the
// middleware authorised is the API that an http.ServeMux of the same
// APIs routes the handler's view to, with the same path values — also
// when the view's path is read decoded, as a file server or a proxy
// reads it — and an unsigned request never reaches a SECRET API, nor a
// forged identity header the handler.
func FuzzRequestPath(f *testing.F) {
	// The findings of the security review, each of which broke the
	// invariant.
	f.Add(uint8(2), "GET", "/public/%2e%2e/orders", false, "")
	f.Add(uint8(2), "GET", "/public/..%2forders", false, "")
	f.Add(uint8(0), "CONNECT", "/release/public/../orders", false, "")
	f.Add(uint8(2), "TRACE", "/public/x", false, "")
	f.Add(uint8(0), "GET", "/release%2Fpublic/x", false, "")
	f.Add(uint8(0), "GET", "/test/orders", false, "")
	f.Add(uint8(3), "GET", "/public/x", false, "X_Api_SecretId")
	f.Add(uint8(0), "GET", "/release/orders/42", true, "x-api-usageplanid")
	f.Add(uint8(1), "DELETE", "/test/orders/7", true, "")
	f.Add(uint8(4), "PUT", "/test//orders", false, "")
	f.Add(uint8(5), "GET", "/dev/a%20b/%41", false, "")
	f.Add(uint8(2), "GET", "/files/%2E%2e", false, "")
	f.Add(uint8(2), "HEAD", "/x/", false, "")

	reg, err := usageplan.LoadConfig(strings.NewReader(invariantConfig), usageplan.RegistryConfig{})
	if err != nil {
		f.Fatal(err)
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		f.Fatal(err)
	}
	type mode struct {
		h    http.Handler
		refs map[string]*http.ServeMux // per environment
		cfg  Config
	}
	var served *http.Request
	modes := make([]mode, len(invariantModes))
	for i, cfg := range invariantModes {
		cfg.Now = func() time.Time { return t0 }
		mw, err := New(reg, lim, cfg)
		if err != nil {
			f.Fatal(err)
		}
		modes[i] = mode{
			h:    mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = r })),
			refs: referenceMuxes(reg.Snapshot(), cfg.Service),
			cfg:  cfg,
		}
	}
	signer := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "fuzz"}

	f.Fuzz(func(t *testing.T, which uint8, method, target string, sign bool, forge string) {
		m := modes[int(which)%len(modes)]
		raw := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n"
		if forge != "" {
			raw += forge + ": forged\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return // the server would refuse it before any handler
		}
		if sign {
			if err := signer.SignAt(req, t0); err != nil {
				return
			}
		}
		served = nil
		w := httptest.NewRecorder()
		m.h.ServeHTTP(w, req)
		if served == nil {
			switch w.Code {
			case 401, 403, 404, 429, 503:
			default:
				t.Fatalf("%s %q refused with status %d", method, target, w.Code)
			}
			return
		}
		view := served
		c, ok := FromContext(view.Context())
		if !ok {
			t.Fatalf("%s %q: no caller", method, target)
		}
		api := c.API
		if !sign && api.Auth != usageplan.AuthNone {
			t.Fatalf("unsigned %s %q reached SECRET %s", method, target, api.ID)
		}
		if (method == http.MethodConnect || method == http.MethodTrace) && api.Method != method {
			t.Fatalf("%s %q reached %s %s", method, target, api.Method, api.ID)
		}
		for name, vals := range view.Header {
			if isIdentityName(name) && len(vals) > 0 && vals[0] == "forged" {
				t.Fatalf("forged %s reached the handler", name)
			}
		}
		if m.cfg.Environment == "" {
			// The environment is the literal first segment, and the view is
			// the rest of the path.
			path, _, _ := strings.Cut(req.RequestURI, "?")
			env, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
			if c.Environment != env {
				t.Fatalf("%q served in environment %q", target, c.Environment)
			}
		}
		if c.Environment == "" || (m.cfg.Environment != "" && c.Environment != m.cfg.Environment) {
			t.Fatalf("%q served in environment %q", target, c.Environment)
		}
		ref := m.refs[c.Environment]
		// As a ServeMux behind the middleware routes the view...
		check(t, ref, view.Clone(view.Context()), api, view, "the view")
		// ...and as a handler that reads only the decoded path does.
		decoded := &http.Request{Method: view.Method, Host: view.Host, URL: &url.URL{Path: view.URL.Path}, Header: http.Header{}}
		check(t, ref, decoded, api, view, "the decoded view")
		if p := view.URL.Path; path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
			t.Fatalf("%q: the handler sees %q, which cleans to %q", target, p, path.Clean(p))
		}
	})
}

// check routes r in ref and fails unless it reaches api with the path
// values the middleware gave view.
func check(t *testing.T, ref *http.ServeMux, r *http.Request, api *usageplan.API, view *http.Request, what string) {
	t.Helper()
	rec := httptest.NewRecorder()
	var got *http.Request
	r = r.WithContext(context.WithValue(r.Context(), sinkKey{}, &got))
	ref.ServeHTTP(rec, r)
	if got == nil {
		t.Fatalf("%s %q (%s) is served as %s, but a ServeMux answers %d", r.Method, r.URL.String(), what, api.ID, rec.Code)
	}
	if rec.Body.String() != api.ID {
		t.Fatalf("%s %q (%s) is served as %s, but a ServeMux routes it to %s", r.Method, r.URL.String(), what, api.ID, rec.Body.String())
	}
	for _, m := range wildcard.FindAllStringSubmatch(api.Path, -1) {
		if got.PathValue(m[1]) != view.PathValue(m[1]) {
			t.Fatalf("%s %q (%s): {%s} is %q to the handler, %q to a ServeMux", r.Method, r.URL.String(), what, m[1], view.PathValue(m[1]), got.PathValue(m[1]))
		}
	}
}

type sinkKey struct{}

// referenceMuxes builds, per environment, an http.ServeMux of the APIs of
// the services published there (of service only, if set), whose handlers
// write the API's ID and hand the routed request to the test.
func referenceMuxes(snap *usageplan.Snapshot, service string) map[string]*http.ServeMux {
	muxes := map[string]*http.ServeMux{}
	for _, s := range snap.Services() {
		if service != "" && s.ID != service {
			continue
		}
		for _, env := range s.Environments {
			if muxes[env] == nil {
				muxes[env] = http.NewServeMux()
			}
			for _, a := range s.APIs {
				pattern := a.Method + " " + a.Path
				if a.Method == usageplan.MethodAny {
					pattern = a.Path
				}
				muxes[env].HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
					if sink, ok := r.Context().Value(sinkKey{}).(**http.Request); ok {
						*sink = r
					}
					_, _ = w.Write([]byte(a.ID))
				})
			}
		}
	}
	return muxes
}
