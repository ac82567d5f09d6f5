// Package route is the routing table of one environment: the patterns of
// every API published there in one http.ServeMux, so that a request
// routes to the API a ServeMux would pick, at a cost that does not grow
// with the number of services, and refuses what a ServeMux or the
// handler behind would interpret otherwise. usageplan builds tables to
// validate a configuration and explain a request; the middleware builds
// them to serve. It is internal: Route changes the request it is given.
package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// MethodAny is the API method that a pattern without a method stands for.
const MethodAny = "ANY"

// Table routes requests to values of type V with http.ServeMux's rules.
// Build it with Add, then Route from any number of goroutines; Add and
// Route must not run concurrently.
type Table[V any] struct {
	mux       *http.ServeMux
	byPattern map[string]*entry[V]
}

// New returns an empty table.
func New[V any]() *Table[V] {
	return &Table[V]{mux: http.NewServeMux(), byPattern: map[string]*entry[V]{}}
}

// entry is the handler registered for a pattern: it marks the value the
// pattern belongs to.
type entry[V any] struct {
	v      V
	method string
}

func (e *entry[V]) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if p, ok := w.(*Probe[V]); ok {
		p.hit = e
	}
}

// Probe is the ResponseWriter Route hands the ServeMux: it records the
// entry if one matched, and swallows what the ServeMux's own not-found,
// method-not-allowed and redirect handlers write. The zero value is
// ready to use; a caller keeps one per request (in a struct it
// allocates anyway), so that routing allocates nothing of its own.
type Probe[V any] struct {
	hit *entry[V]
	h   http.Header // from headers, only while a miss is being written
}

// Header implements http.ResponseWriter.
func (p *Probe[V]) Header() http.Header {
	if p.h == nil {
		p.h = headers.Get().(http.Header)
	}
	return p.h
}

// Write implements http.ResponseWriter.
func (*Probe[V]) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader implements http.ResponseWriter.
func (*Probe[V]) WriteHeader(int) {}

// headers are the maps that ServeMux's 404, 405 and redirect handlers
// write into, reused.
var headers = sync.Pool{New: func() any { return http.Header{} }}

// Pattern returns the http.ServeMux pattern of an API's method and path:
// "GET /orders/{id}", or the bare path for MethodAny.
func Pattern(method, path string) string {
	if method == MethodAny {
		return path
	}
	return method + " " + path
}

// ConflictError is a pattern that another one in the table already
// matches as specifically: http.ServeMux could not tell them apart.
type ConflictError[V any] struct {
	Pattern, OtherPattern string
	Other                 V
	Detail                string // http.ServeMux's description of the overlap
}

func (e *ConflictError[V]) Error() string {
	return strconv.Quote(e.Pattern) + " conflicts with " + strconv.Quote(e.OtherPattern) + ": " + e.Detail
}

// Add registers v under method (an HTTP method or MethodAny) and path. It
// returns a *ConflictError[V] if a pattern already in the table conflicts
// with it, and another error if the pattern is not valid; the table is
// then unchanged.
func (t *Table[V]) Add(method, path string, v V) (err error) {
	pat := Pattern(method, path)
	e := &entry[V]{v: v, method: method}
	defer func() {
		if r := recover(); r != nil {
			err = t.explain(pat, fmt.Sprint(r))
		}
	}()
	t.mux.Handle(pat, e)
	t.byPattern[pat] = e
	return nil
}

// explain turns a ServeMux registration panic into an error without the
// source locations ServeMux adds (they would be this file's).
func (t *Table[V]) explain(pat, msg string) error {
	const conflict = ") conflicts with pattern "
	if i := strings.Index(msg, conflict); i >= 0 {
		rest := msg[i+len(conflict):]
		other, err := strconv.QuotedPrefix(rest)
		if err == nil {
			other, _ = strconv.Unquote(other)
			detail := ""
			if _, d, ok := strings.Cut(rest, ":\n"); ok {
				detail = strings.Join(strings.Fields(d), " ")
			}
			if e, ok := t.byPattern[other]; ok {
				return &ConflictError[V]{Pattern: pat, OtherPattern: other, Other: e.v, Detail: detail}
			}
		}
	}
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "parsing") {
		msg = msg[i+2:]
	}
	return errors.New("is not a valid http.ServeMux pattern: " + msg)
}

// Route finds the value whose pattern r routes to and routes r as
// http.ServeMux.ServeHTTP does: on a match, r.Pattern is the pattern and
// r.PathValue returns its wildcards; otherwise r.Pattern is "". It
// changes r, so pass a request of your own, and p, a Probe of the
// caller's that no other goroutine uses meanwhile.
//
// Route refuses (returns false) where ServeMux would answer 404, 405 or a
// redirect, and also where a ServeMux and the handler behind it could
// disagree on the path: a path that is not Canonical, and CONNECT
// or TRACE to a pattern that does not name that method (ServeMux neither
// cleans a CONNECT path nor leaves these methods out of a pattern without
// a method). It allocates only what ServeMux allocates for wildcards.
func (t *Table[V]) Route(r *http.Request, p *Probe[V]) (v V, ok bool) {
	if !Canonical(r.URL) {
		r.Pattern = ""
		return v, false
	}
	t.mux.ServeHTTP(p, r)
	e := p.hit
	p.hit = nil
	if p.h != nil {
		clear(p.h)
		headers.Put(p.h)
		p.h = nil
	}
	if e == nil || (r.Method == http.MethodConnect || r.Method == http.MethodTrace) && e.method != r.Method {
		r.Pattern = "" // a redirect leaves the pattern it would redirect to
		return v, false
	}
	return e.v, true
}

// Canonical reports whether u's path means one thing to every reader:
// it starts with "/", has no empty, "." or ".." segment, plain or
// percent-encoded, and no percent-encoded "/" (so that the decoded path
// and the escaped one have the same segments).
func Canonical(u *url.URL) bool {
	p := u.Path
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p)-1; i++ {
		if p[i] != '/' {
			continue
		}
		switch p[i+1] {
		case '/':
			return false
		case '.':
			seg := p[i+1:]
			if end := strings.IndexByte(seg, '/'); end >= 0 {
				seg = seg[:end]
			}
			if seg == "." || seg == ".." {
				return false
			}
		}
	}
	// Only a RawPath can hold an encoded slash: it is the path as the
	// client sent it whenever that differs from Path's default escaping.
	// (It is checked even where EscapedPath ignores it as not a valid
	// encoding as a whole: /a%2Fb/" reads as /a/b/%22.)
	return !encodedSlash(u.RawPath)
}

// encodedSlash reports whether an escaped path holds a percent-encoded
// "/".
func encodedSlash(target string) bool {
	for {
		i := strings.IndexByte(target, '%')
		if i < 0 || i+2 >= len(target) {
			return false
		}
		if target[i+1] == '2' && target[i+2]|0x20 == 'f' {
			return true
		}
		target = target[i+1:]
	}
}
