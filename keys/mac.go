package keys

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
)

// The signature algorithms of SPEC §6.
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
type algorithm struct {
	name  string
	size  int // MAC bytes
	block int // hash block bytes
	pool  sync.Pool
}

func newAlgorithm(name string, h func() hash.Hash) *algorithm {
	a := &algorithm{name: name}
	probe := h()
	a.size, a.block = probe.Size(), probe.BlockSize()
	a.pool.New = func() any { return &macState{alg: a, h: h()} }
	return a
}

var (
	sha1Alg   = newAlgorithm(HMACSHA1, sha1.New)
	sha256Alg = newAlgorithm(HMACSHA256, sha256.New)
	sha384Alg = newAlgorithm(HMACSHA384, sha512.New384)
	sha512Alg = newAlgorithm(HMACSHA512, sha512.New)
)

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
	alg  *algorithm
	h    hash.Hash
	key  [128]byte // the key, padded to the block size
	buf  [256]byte // pending message bytes
	n    int
	sum  [64]byte // inner digest
	mac  [64]byte // result
	sig  [88]byte // decoded client signature
	name [maxHeaderNameLen]byte
}

// start begins HMAC(secret, ·).
func (a *algorithm) start(secret []byte) *macState {
	return a.restart(a.pool.Get().(*macState), secret)
}

// restart reuses m for HMAC(secret, ·), keeping its sig and name fields.
func (a *algorithm) restart(m *macState, secret []byte) *macState {
	m.n = 0
	clear(m.key[:a.block])
	if len(secret) > a.block {
		m.h.Reset()
		m.h.Write(secret)
		copy(m.key[:], m.h.Sum(m.sum[:0]))
	} else {
		copy(m.key[:], secret)
	}
	for i := range a.block {
		m.key[i] ^= 0x36
	}
	m.h.Reset()
	m.h.Write(m.key[:a.block])
	return m
}

func (m *macState) release() { m.alg.pool.Put(m) }

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
	for i := range m.alg.block {
		m.key[i] ^= 0x36 ^ 0x5c // ipad → opad
	}
	m.h.Reset()
	m.h.Write(m.key[:m.alg.block])
	m.h.Write(inner)
	return m.h.Sum(m.mac[:0])
}
