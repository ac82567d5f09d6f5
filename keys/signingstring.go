package keys

import (
	"net/http"
	"strings"
)

// RequestTarget is the pseudo-header that signs the request line:
// the lowercased method, a space, and the path with its raw query.
const RequestTarget = "(request-target)"

// lineWriter receives the signing string piece by piece.
type lineWriter interface {
	writeString(string)
	writeByte(byte)
}

// writeSigningString writes the signing string of r for the space-separated
// header list to w: for each name, "name: value", joined by "\n". It
// checks each name and value (see checkHeaderList) and returns the
// refusal, if any.
func writeSigningString(w lineWriter, r *http.Request, list string, hr *headerReader) *AuthError {
	first := true
	for rest := list; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, " ")
		if !first {
			w.writeByte('\n')
		}
		first = false
		w.writeString(name)
		w.writeString(": ")
		if name == RequestTarget {
			method := r.Method
			if method == "" { // a client request: net/http sends GET
				method = http.MethodGet
			}
			for i := 0; i < len(method); i++ {
				w.writeByte(lower(method[i]))
			}
			w.writeByte(' ')
			w.writeString(requestURI(r))
			continue
		}
		v, err := hr.value(r, name)
		if err != nil {
			return err
		}
		w.writeString(v)
	}
	return nil
}

// requestURI is the path and raw query as the client sent them.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI[0] == '/' {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// headerReader reads the values of signed headers. It keeps the date
// values it has read, which the verifier reads twice (to check the date,
// then for the signing string); a zero headerReader belongs to one
// request.
type headerReader struct {
	scratch             [maxHeaderNameLen]byte // for canonicalising names
	xDate, date         string
	haveXDate, haveDate bool
	// wire, set by the signer, holds the values that net/http sends in
	// place of the request's fields (host, content-length).
	wire map[string]string
}

// value returns the one value of the (lowercase) header name in r.
// Host is read from r.Host, where net/http keeps it.
func (hr *headerReader) value(r *http.Request, name string) (string, *AuthError) {
	switch {
	case name == "x-date" && hr.haveXDate:
		return hr.xDate, nil
	case name == "date" && hr.haveDate:
		return hr.date, nil
	}
	v, err := hr.read(r, name)
	if err == nil {
		switch name {
		case "x-date":
			hr.xDate, hr.haveXDate = v, true
		case "date":
			hr.date, hr.haveDate = v, true
		}
	}
	return v, err
}

func (hr *headerReader) read(r *http.Request, name string) (string, *AuthError) {
	if v, ok := hr.wire[name]; ok {
		return v, nil
	}
	var vals []string
	if name == "host" {
		if r.Host == "" {
			return "", &AuthError{Reason: ReasonHeaderMissing, Header: name}
		}
		vals = []string{r.Host}
	} else {
		// Canonicalise into scratch; indexing a map with string(bytes)
		// does not allocate.
		scratch := &hr.scratch
		n := copy(scratch[:], name)
		upper := true
		for i := range n {
			c := scratch[i]
			if upper && c >= 'a' && c <= 'z' {
				scratch[i] = c - 'a' + 'A'
			}
			upper = c == '-'
		}
		vals = r.Header[string(scratch[:n])]
	}
	switch {
	case len(vals) == 0:
		return "", &AuthError{Reason: ReasonHeaderMissing, Header: name}
	case len(vals) > 1:
		return "", &AuthError{Reason: ReasonMultipleHeader, Header: name}
	}
	v := vals[0]
	if hasLineBreakOrNUL(v) {
		return "", &AuthError{Reason: ReasonHeaderMissing, Header: name, Detail: "control character in value"}
	}
	return v, nil
}

// hasLineBreakOrNUL reports whether v contains CR, LF or NUL, which
// could forge extra lines of the signing string.
func hasLineBreakOrNUL(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return true
		}
	}
	return false
}

// checkHeaderList checks the headers parameter: 1–16 names, each a
// lowercase token (or "(request-target)") of at most 64 bytes, separated
// by single spaces, none repeated. It returns which date headers it lists.
func checkHeaderList(list string) (hasXDate, hasDate bool, err *AuthError) {
	if list == "" {
		return false, false, authErr(ReasonMalformed)
	}
	count := 0
	for rest := list; ; {
		name, tail, more := strings.Cut(rest, " ")
		if count++; count > MaxSignedHeaders || !validHeaderName(name) {
			return false, false, authErr(ReasonMalformed)
		}
		if listed(list[:len(list)-len(rest)], name) {
			return false, false, authErr(ReasonMalformed) // repeated
		}
		hasXDate = hasXDate || name == "x-date"
		hasDate = hasDate || name == "date"
		if !more {
			break
		}
		rest = tail
	}
	return hasXDate, hasDate, nil
}

// listed reports whether name is among the space-terminated names of prefix.
func listed(prefix, name string) bool {
	for prefix != "" {
		var n string
		n, prefix, _ = strings.Cut(prefix, " ")
		if n == name {
			return true
		}
	}
	return false
}

func validHeaderName(name string) bool {
	if name == RequestTarget {
		return true
	}
	if name == "" || len(name) > maxHeaderNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' || !isTchar(c) {
			return false
		}
	}
	return true
}

// lowerASCII returns s with ASCII capitals lowered and every other byte
// kept (strings.ToLower would also lower non-ASCII letters, turning the
// Kelvin sign into "k"); it allocates only when s has a capital.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			var b strings.Builder
			b.Grow(len(s))
			b.WriteString(s[:i])
			for ; i < len(s); i++ {
				b.WriteByte(lower(s[i]))
			}
			return b.String()
		}
	}
	return s
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// stringWriter builds a signing string as text, for Signer and for tests.
type stringWriter struct{ b strings.Builder }

func (s *stringWriter) writeString(v string) { s.b.WriteString(v) }
func (s *stringWriter) writeByte(c byte)     { s.b.WriteByte(c) }

// SigningString returns the signing string of r for the given header
// names (in order, matched case-insensitively and written lowercase), as
// the verifier computes it from a request it received.
func SigningString(r *http.Request, headers []string) (string, error) {
	list := lowerASCII(strings.Join(headers, " "))
	if _, _, err := checkHeaderList(list); err != nil {
		return "", err
	}
	var w stringWriter
	var hr headerReader
	if err := writeSigningString(&w, r, list, &hr); err != nil {
		return "", err
	}
	return w.b.String(), nil
}
