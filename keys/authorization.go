package keys

import (
	"strings"
)

// Bounds on the Authorization header, so that hostile input is refused
// after a bounded amount of work.
const (
	MaxAuthorizationLen = 4096 // bytes of the header value
	MaxAuthParams       = 8    // auth-params, known or not
	MaxSignedHeaders    = 16   // names in the headers parameter
	maxHeaderNameLen    = 64   // bytes of one signed header name
)

// Scheme is the authentication scheme of key-pair signatures. It is
// matched case-insensitively.
const Scheme = "hmac"

// Authorization is a parsed key-pair Authorization header:
//
//	hmac id="AKID…", algorithm="hmac-sha1", headers="x-date source", signature="…"
type Authorization struct {
	ID        string // secret_id
	Algorithm string // hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512
	// Headers is the space-separated list of signed header names, as
	// sent: lowercase, single spaces (the verifier refuses other forms).
	Headers   string
	Signature string // standard padded base64 of the MAC
}

// HeaderNames splits Headers into names.
func (a Authorization) HeaderNames() []string { return strings.Fields(a.Headers) }

// String formats a as a header value that ParseAuthorization accepts.
// Values are quoted strings, with '"' and '\' escaped.
func (a Authorization) String() string {
	var b strings.Builder
	b.Grow(len(a.ID) + len(a.Algorithm) + len(a.Headers) + len(a.Signature) + 64)
	b.WriteString(Scheme)
	b.WriteString(` id=`)
	quote(&b, a.ID)
	b.WriteString(`, algorithm=`)
	quote(&b, a.Algorithm)
	b.WriteString(`, headers=`)
	quote(&b, a.Headers)
	b.WriteString(`, signature=`)
	quote(&b, a.Signature)
	return b.String()
}

func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// ParseAuthorization parses an Authorization header value under the
// RFC 9110 auth-param grammar: a case-insensitive "hmac" scheme, then
// comma-separated name=value pairs (names case-insensitive, values tokens
// or quoted strings with backslash escapes, optional whitespace around ','
// and '='). Unknown parameters are ignored; a repeated parameter, a
// missing algorithm or headers parameter, or anything off-grammar is
// ReasonMalformed; a missing id or signature is ReasonIDOrSignatureMissing.
// It allocates only to unescape quoted strings that contain escapes.
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	if len(v) > MaxAuthorizationLen {
		return a, authErr(ReasonMalformed)
	}
	p := authParser{s: v}
	scheme := p.token()
	if !strings.EqualFold(scheme, Scheme) {
		return a, authErr(ReasonMalformed)
	}
	if p.i >= len(p.s) || (p.s[p.i] != ' ' && p.s[p.i] != '\t') {
		return a, authErr(ReasonMalformed)
	}
	var seen [4]bool
	params := 0
	for {
		p.ows()
		if p.i == len(p.s) {
			break
		}
		if p.s[p.i] == ',' { // empty list element
			p.i++
			continue
		}
		if params++; params > MaxAuthParams {
			return a, authErr(ReasonMalformed)
		}
		name := p.token()
		p.ows()
		if name == "" || !p.eat('=') {
			return a, authErr(ReasonMalformed)
		}
		p.ows()
		val, ok := p.value()
		if !ok {
			return a, authErr(ReasonMalformed)
		}
		var slot int
		var dst *string
		switch {
		case strings.EqualFold(name, "id"):
			slot, dst = 0, &a.ID
		case strings.EqualFold(name, "algorithm"):
			slot, dst = 1, &a.Algorithm
		case strings.EqualFold(name, "headers"):
			slot, dst = 2, &a.Headers
		case strings.EqualFold(name, "signature"):
			slot, dst = 3, &a.Signature
		default:
			slot = -1
		}
		if slot >= 0 {
			if seen[slot] {
				return a, authErr(ReasonMalformed)
			}
			seen[slot], *dst = true, val
		}
		p.ows()
		if p.i < len(p.s) && !p.eat(',') {
			return a, authErr(ReasonMalformed)
		}
	}
	switch {
	case a.ID == "" || a.Signature == "":
		return a, authErr(ReasonIDOrSignatureMissing)
	case !seen[1] || !seen[2]:
		return a, authErr(ReasonMalformed)
	}
	return a, nil
}

type authParser struct {
	s string
	i int
}

func (p *authParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *authParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *authParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted-string.
func (p *authParser) value() (string, bool) {
	if !p.eat('"') {
		t := p.token()
		return t, t != ""
	}
	start, escaped := p.i, false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			raw := p.s[start:p.i]
			p.i++
			if escaped {
				return unescape(raw), true
			}
			return raw, true
		case c == '\\':
			if p.i+1 >= len(p.s) || !isQdtext(p.s[p.i+1]) && p.s[p.i+1] != '"' && p.s[p.i+1] != '\\' {
				return "", false
			}
			escaped = true
			p.i += 2
		case isQdtext(c):
			p.i++
		default:
			return "", false
		}
	}
	return "", false // unterminated
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Character classes of RFC 9110, as tables (the parser is on every
// request's path).
var (
	tchars = charClass(func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
	})
	qdtexts = charClass(func(c byte) bool {
		return c == '\t' || c == ' ' || c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e
	})
)

func charClass(in func(byte) bool) (t [256]bool) {
	for c := range 256 {
		t[c] = in(byte(c))
	}
	return t
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool { return tchars[c] }

// isQdtext reports whether c may appear unescaped in a quoted-string
// (RFC 9110 qdtext, without obs-text: planguard refuses non-ASCII).
func isQdtext(c byte) bool { return qdtexts[c] }
