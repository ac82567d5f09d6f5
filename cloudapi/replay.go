package cloudapi

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"time"
)

// MaxAcceptedSignatures bounds the signatures the handler remembers to
// refuse replays: TC3 signs no nonce, so a request captured on the wire
// verifies again for as long as its X-TC-Timestamp is within
// MaxClockSkew. Every accepted signature, reads included, is kept for
// 2×MaxClockSkew (about 100 bytes apiece), and a write action whose
// signature was accepted before, for any action, is refused
// (AuthFailure.SignatureFailure): a write is served once, and a read's
// signature never becomes a write (the Go SDK does not sign
// X-TC-Action). A read sent again is served: it changes nothing.
//
// When the record is full of signatures still in their window, new
// requests are refused until the oldest expire: forgetting one still in
// its window would let it be replayed. That caps the admin API at
// MaxAcceptedSignatures signed requests per 2×MaxClockSkew (about 109 a
// second).
const MaxAcceptedSignatures = 1 << 16

// seenSignatures records the signatures accepted within 2×MaxClockSkew.
// Its zero value is ready; it is safe for concurrent use.
type seenSignatures struct {
	mu    sync.Mutex
	set   map[[sha256.Size]byte]struct{}
	order []seenSignature // a FIFO queue: order[head:] in acceptance order
	head  int
}

type seenSignature struct {
	key     [sha256.Size]byte
	expires int64 // Unix nanoseconds
}

// Replay refusals (messages; each answer gets its own *Error).
const (
	msgReplayed = "this signature was already accepted: a write action is served once, and never with the signature of an earlier request; sign it again in another second (a client that does not sign X-TC-Action signs a read and a write over the same body in the same second alike)"
	msgSeenFull = "too many signed requests within the replay window; retry later"
)

// seenKey is the record's key of a signature: a hash of the SecretId,
// the timestamp and the signature.
func seenKey(secretID, timestamp string, sig *[sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(secretID))))
	h.Write([]byte{0})
	h.Write([]byte(secretID))
	h.Write([]byte{0})
	h.Write([]byte(timestamp))
	h.Write([]byte{0})
	h.Write(sig[:])
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// accept records the signature key of an authenticated request, or
// refuses it: a write whose signature was accepted before, or any
// request when the record is full.
func (s *seenSignatures) accept(key [sha256.Size]byte, write bool, now time.Time) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[[sha256.Size]byte]struct{}{}
	}
	// Forget the expired ones, oldest first. A clock that went back
	// keeps them longer, which is safe.
	n := now.UnixNano()
	for s.head < len(s.order) && s.order[s.head].expires < n {
		delete(s.set, s.order[s.head].key)
		s.order[s.head] = seenSignature{}
		s.head++
	}
	if s.head > 0 && s.head >= len(s.order)/2 {
		s.order = append(s.order[:0], s.order[s.head:]...)
		s.head = 0
	}
	if _, dup := s.set[key]; dup {
		if !write {
			return nil // a read again changes nothing
		}
		return &Error{Code: CodeSignatureFailure, Message: msgReplayed}
	}
	if len(s.set) >= MaxAcceptedSignatures {
		return &Error{Code: CodeSignatureFailure, Message: msgSeenFull}
	}
	s.set[key] = struct{}{}
	s.order = append(s.order, seenSignature{key: key, expires: now.Add(2 * MaxClockSkew).UnixNano()})
	return nil
}
