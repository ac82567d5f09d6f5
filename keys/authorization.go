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
	// sent: single spaces, any case (the verifier matches names ignoring
	// case and refuses other forms).
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
		if slot := paramSlot(name); slot >= 0 {
			if seen[slot] {
				return a, authErr(ReasonMalformed)
			}
			seen[slot] = true
			switch slot {
			case 0:
				a.ID = val
			case 1:
				a.Algorithm = val
			case 2:
				a.Headers = val
			case 3:
				a.Signature = val
			}
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

// paramSlot numbers the known parameters (id, algorithm, headers,
// signature: 0–3), matched case-insensitively; other names are -1.
func paramSlot(name string) int {
	var want string
	slot := -1
	switch len(name) {
	case 2:
		want, slot = "id", 0
	case 7:
		want, slot = "headers", 2
	case 9:
		want, slot = "algorithm", 1
		if name[0]|0x20 == 's' {
			want, slot = "signature", 3
		}
	}
	if slot < 0 || !strings.EqualFold(name, want) {
		return -1
	}
	return slot
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
	for {
		p.i += qdtextRun(p.s[p.i:])
		if p.i == len(p.s) {
			return "", false // unterminated
		}
		switch p.s[p.i] {
		case '"':
			raw := p.s[start:p.i]
			p.i++
			if escaped {
				return unescape(raw), true
			}
			return raw, true
		case '\\':
			if p.i+1 >= len(p.s) || !isQdtext(p.s[p.i+1]) && p.s[p.i+1] != '"' && p.s[p.i+1] != '\\' {
				return "", false
			}
			escaped = true
			p.i += 2
		default:
			return "", false
		}
	}
}

// qdtextRun returns the length of the leading run of qdtext in s: it
// stops at '"', '\\' or a byte a quoted-string cannot hold. Signatures and
// IDs make this the parser's longest loop, so it tests eight bytes at a
// time while they are all printable ASCII, then goes on byte by byte
// (tabs, and the end of the run, take that path).
func qdtextRun(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if !printable8(x) {
			break
		}
	}
	for i < len(s) && isQdtext(s[i]) {
		i++
	}
	return i
}

// printable8 reports whether each byte of x is in 0x20–0x7e and is
// neither '"' nor '\\', with the exact zero-byte and byte-range tests of
// "Bit Twiddling Hacks" (exact as to whether any byte matches).
func printable8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	below := (x - ones*0x20) & ^x & highs // a byte < 0x20
	above := ((x + ones) | x) & highs     // a byte > 0x7e: +1 sets its high bit, or it was set
	quote := hasZero(x ^ ones*'"')
	backslash := hasZero(x ^ ones*'\\')
	return below|above|quote|backslash == 0
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
