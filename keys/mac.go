package keys

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"hash"
	"sync"
)

// The signature algorithms.
const (
	HMACSHA1   = "hmac-sha1" // what the old gateway's clients send
	HMACSHA256 = "hmac-sha256"
	HMACSHA384 = "hmac-sha384"
	HMACSHA512 = "hmac-sha512"
)

// Algorithms lists every supported algorithm.
func Algorithms() []string { return []string{HMACSHA1, HMACSHA256, HMACSHA384, HMACSHA512} }

// algorithm computes HMAC (RFC 2104) over a pool of plain hashes, so that
// verifying a request allocates nothing: crypto/hmac allocates its state
// per key, and keys change from request to request.
//
// The two keyed hash states (after key⊕ipad and after key⊕opad) are
// computed once per secret and algorithm and kept with the Secret (see
// Secret.pads), so a request costs the message's blocks and one outer
// block, not two more for the key.
type algorithm struct {
	name  string
	index int // in Secret's pad cache
	size  int // MAC bytes
	block int // hash block bytes
	pool  sync.Pool
}

// macHash is what the algorithms' hashes implement: the keyed states are
// saved and restored through their binary encoding.
type macHash interface {
	hash.Hash
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

func newAlgorithm(name string, index int, h func() hash.Hash) *algorithm {
	a := &algorithm{name: name, index: index}
	probe := h()
	a.size, a.block = probe.Size(), probe.BlockSize()
	a.pool.New = func() any { return &macState{alg: a, h: h().(macHash)} }
	return a
}

const numAlgorithms = 4

var (
	sha1Alg   = newAlgorithm(HMACSHA1, 0, sha1.New)
	sha256Alg = newAlgorithm(HMACSHA256, 1, sha256.New)
	sha384Alg = newAlgorithm(HMACSHA384, 2, sha512.New384)
	sha512Alg = newAlgorithm(HMACSHA512, 3, sha512.New)
)

// pads are HMAC's keyed hash states for one secret and algorithm.
type pads struct{ inner, outer []byte }

// lookupAlgorithm returns the algorithm named name (case-sensitive, as
// sent by every known client), or nil.
func lookupAlgorithm(name string) *algorithm {
	switch name {
	case HMACSHA1:
		return sha1Alg
	case HMACSHA256:
		return sha256Alg
	case HMACSHA384:
		return sha384Alg
	case HMACSHA512:
		return sha512Alg
	}
	return nil
}

// macState is one HMAC computation in progress. Everything it needs lives
// inside it, so nothing escapes to the heap per request.
type macState struct {
	alg   *algorithm
	h     macHash
	outer []byte    // the keyed outer state to finish with
	buf   [256]byte // pending message bytes
	n     int
	sum   [64]byte // inner digest
	mac   [64]byte // result
	sig   [88]byte // decoded client signature
}

// start begins HMAC(secret, ·), computing the keyed states afresh.
func (a *algorithm) start(secret []byte) *macState {
	m := a.pool.Get().(*macState)
	return m.begin(a.pads(m, secret))
}

// startSecret begins HMAC(s, ·) from s's cached keyed states.
func (a *algorithm) startSecret(s Secret) *macState {
	m := a.pool.Get().(*macState)
	return m.begin(s.pads(a, m))
}

// pads computes the keyed states of secret, using m's hash.
func (a *algorithm) pads(m *macState, secret []byte) *pads {
	var key [128]byte // the key, padded to the block size
	if len(secret) > a.block {
		m.h.Reset()
		m.h.Write(secret)
		copy(key[:], m.h.Sum(m.sum[:0]))
	} else {
		copy(key[:], secret)
	}
	keyed := func(pad byte) []byte {
		var block [128]byte
		for i := range a.block {
			block[i] = key[i] ^ pad
		}
		m.h.Reset()
		m.h.Write(block[:a.block])
		clear(block[:])
		state, _ := m.h.AppendBinary(nil) // never fails for these hashes
		return state
	}
	p := &pads{inner: keyed(0x36), outer: keyed(0x5c)}
	clear(key[:])
	return p
}

// begin starts m from keyed states p, keeping its sig and name fields.
func (m *macState) begin(p *pads) *macState {
	m.n = 0
	_ = m.h.UnmarshalBinary(p.inner) // a state this hash wrote itself
	m.outer = p.outer
	return m
}

func (m *macState) release() {
	m.outer = nil
	m.alg.pool.Put(m)
}

func (m *macState) writeString(s string) {
	for len(s) > 0 {
		if m.n == len(m.buf) {
			m.flush()
		}
		c := copy(m.buf[m.n:], s)
		m.n += c
		s = s[c:]
	}
}

func (m *macState) writeByte(c byte) {
	if m.n == len(m.buf) {
		m.flush()
	}
	m.buf[m.n] = c
	m.n++
}

func (m *macState) flush() {
	m.h.Write(m.buf[:m.n])
	m.n = 0
}

// finish returns the MAC; it is valid until release.
func (m *macState) finish() []byte {
	m.flush()
	inner := m.h.Sum(m.sum[:0])
	_ = m.h.UnmarshalBinary(m.outer)
	m.h.Write(inner)
	return m.h.Sum(m.mac[:0])
}
