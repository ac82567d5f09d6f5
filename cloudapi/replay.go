package cloudapi

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"time"
)

// MaxAcceptedSignatures bounds the write requests the handler remembers
// to refuse replays: TC3 signs no nonce, so a request captured on the
// wire verifies again for as long as its X-TC-Timestamp is within
// MaxClockSkew. Every accepted write action is kept for 2×MaxClockSkew
// and a second (about 100 bytes apiece) under its SecretId, timestamp, signature and
// action, and the same write again is refused
// (AuthFailure.SignatureFailure): a write is served once. Reads are not
// recorded: one sent again changes nothing.
//
// The action is part of the record because the SDKs do not sign
// X-TC-Action: two different writes over the same body in the same
// second (DisableApiKey then DeleteApiKey of one key, as scripts do) have
// the same signature, and both must be served. The price is that an
// on-path attacker who captures a request could send it once more under
// another action; Config.RequireSignedAction (for clients that sign
// x-tc-action), TLS in front of the listener, or keeping it on loopback
// close that.
//
// When the record is full of writes still in their window, new writes
// are refused until the oldest expire: forgetting one still in its
// window would let it be replayed. That caps the admin API at
// MaxAcceptedSignatures writes per 2×MaxClockSkew (about 109 a second),
// which only a read-write credential can use up.
const MaxAcceptedSignatures = 1 << 16

// seenFor is how long an accepted write is remembered: as long as its
// X-TC-Timestamp can pass the skew check. That check compares whole
// seconds (now.Unix()), so a timestamp accepted at now may pass until
// the second after now.Unix() + 2×MaxClockSkew ends: up to a second
// past now + 2×MaxClockSkew.
const seenFor = 2*MaxClockSkew + time.Second

// seenSignatures records the writes accepted within seenFor.
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
	msgReplayed = "this signed write was already accepted: a write action is served once; sign it again to repeat it"
	msgSeenFull = "too many signed writes within the replay window; retry later"
)

// seenKey is the record's key of a write: a hash of the SecretId, the
// timestamp, the signature and the action.
func seenKey(secretID, timestamp, action string, sig *[sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(secretID))))
	h.Write([]byte{0})
	h.Write([]byte(secretID))
	h.Write([]byte{0})
	h.Write([]byte(timestamp))
	h.Write([]byte{0})
	h.Write(sig[:])
	h.Write([]byte(action))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// accept records the key of an authenticated write, or refuses it: the
// same write accepted before, or any write when the record is full.
func (s *seenSignatures) accept(key [sha256.Size]byte, now time.Time) *Error {
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
		return &Error{Code: CodeSignatureFailure, Message: msgReplayed}
	}
	if len(s.set) >= MaxAcceptedSignatures {
		return &Error{Code: CodeSignatureFailure, Message: msgSeenFull}
	}
	s.set[key] = struct{}{}
	s.order = append(s.order, seenSignature{key: key, expires: now.Add(seenFor).UnixNano()})
	return nil
}
