package middleware

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// isIdentity reports whether a header name would pass for one of the
// headers that carry the caller (HeaderSecretID, HeaderUsagePlanID,
// HeaderAPIID, HeaderEnvironment) to some backend: equal to one ignoring
// case, '-' and '_', as CGI, WSGI and PHP map "X_Api_SecretId" and
// "X-Api-SecretId" to the same HTTP_X_API_SECRETID.
func isIdentity(name string) bool {
	// Most headers stop here, inlined: an identity name starts with 'x'
	// once any leading separators are dropped.
	if len(name) < len("xapiid") {
		return false
	}
	switch name[0] {
	case 'x', 'X', '-', '_':
		return isIdentityFold(name)
	}
	return false
}

func isIdentityFold(name string) bool {
	var buf [len("xapiusageplanid")]byte
	n := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	switch string(buf[:n]) {
	case "xapisecretid", "xapiusageplanid", "xapiid", "xapienvironment":
		return true
	}
	return false
}

// stripHeaders removes from the handler's view every client header that
// could pass for an identity header, and Authorization when asked; the
// header map is copied only if there is something to remove. Client
// trailers are filtered the same way when they arrive (see trailerBody).
func (q *request) stripHeaders(r *http.Request, authorization bool) {
	for name := range r.Header {
		if isIdentity(name) || authorization && strings.EqualFold(name, "Authorization") {
			delete(q.writableHeader(), name)
		}
	}
	if r.Trailer != nil {
		// net/http fills the request's trailer map when the body ends, with
		// whatever trailers the client sent; the view gets a map of its own,
		// filled then, without identity headers.
		t := make(http.Header, len(r.Trailer))
		for name := range r.Trailer {
			if !isIdentity(name) {
				t[name] = nil
			}
		}
		q.view.Trailer = t
		q.view.Body = &trailerBody{ReadCloser: r.Body, from: r.Trailer, to: t}
	}
}

// trailerBody is the view's body when the client declared trailers: at
// the end of the body it copies the client's trailers, but the identity
// ones, to the view's trailer map.
type trailerBody struct {
	io.ReadCloser
	from, to http.Header
	done     bool
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		for name, vals := range b.from {
			if !isIdentity(name) {
				b.to[name] = vals
			}
		}
	}
	return n, err
}

// storeContext is the context of a request's store calls: the
// request's, with the client's values (a trace, say) but without its
// cancellation or deadline, as context.WithoutCancel makes it, but
// without an allocation (it is the per-request struct seen as another
// type). A client that goes away thus cannot make the store call fail
// (and, with fail-open, be served uncounted); the store's own timeouts
// bound the call, or Config.StoreTimeout. (Unlike WithoutCancel's,
// context.Cause of it reports the client's cause; it is only handed to
// stores.)
type storeContext request

func (*storeContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*storeContext) Done() <-chan struct{}       { return nil }
func (*storeContext) Err() error                  { return nil }
func (s *storeContext) Value(key any) any         { return s.Context.Value(key) }

// storeContext returns the context of q's store calls and, with a
// timeout, the function that releases its timer.
func (q *request) storeContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx := (*storeContext)(q)
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return ctx, nil
}
