package boltstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"

	"github.com/planguard/planguard/limiter"
)

// The file holds two buckets. headerBucket marks it as a planguard state
// file: formatKey's value is formatMagic followed by the format version
// (one byte), written when the file is created. usageBucket holds one
// entry per counter:
//
//	key:   len(plan) uint16 | plan | window uint64 (sign bit flipped) | key
//	value: usage uint64 | CRC-32C of the key and the usage (uint32)
//
// All integers are big-endian. The order groups a plan's counters by
// period, so that PlanUsage and Prune read one contiguous range; the
// checksum covers the key, so zeroed or moved bytes do not read as a
// valid count.
var (
	headerBucket = []byte("planguard")
	formatKey    = []byte("format")
	usageBucket  = []byte("usage")
)

const (
	formatMagic   = "planguard quota state\x00"
	formatVersion = 1
	valueLen      = 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func formatValue() []byte { return append([]byte(formatMagic), formatVersion) }

// counterKey encodes c (see above).
func counterKey(c limiter.Counter) []byte {
	b := make([]byte, 0, 2+len(c.Plan)+8+len(c.Key))
	b = windowPrefix(b, c.Plan, c.Window)
	return append(b, c.Key...)
}

func planPrefix(b []byte, plan string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(plan)))
	return append(b, plan...)
}

func windowPrefix(b []byte, plan string, window int64) []byte {
	return binary.BigEndian.AppendUint64(planPrefix(b, plan), uint64(window)^(1<<63))
}

// decodeKey returns the key ID and window of a counter key.
func decodeKey(k []byte) (plan, key string, window int64, ok bool) {
	if len(k) < 2 {
		return "", "", 0, false
	}
	pl := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+pl+8 {
		return "", "", 0, false
	}
	window = int64(binary.BigEndian.Uint64(k[2+pl:]) ^ (1 << 63))
	return string(k[2 : 2+pl]), string(k[2+pl+8:]), window, true
}

func checksum(k []byte, usage []byte) uint32 {
	return crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, usage)
}

func encodeValue(k []byte, used int64) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, valueLen), uint64(used))
	return binary.BigEndian.AppendUint32(v, checksum(k, v))
}

// errBadCounter is wrapped with ErrCorrupt by the callers.
var errBadCounter = errors.New("a counter fails its checksum")

// decodeValue returns the usage stored under k; a missing value is 0.
func decodeValue(k, v []byte) (int64, error) {
	if v == nil {
		return 0, nil
	}
	if len(v) != valueLen || binary.BigEndian.Uint32(v[8:]) != checksum(k, v[:8]) {
		return 0, errBadCounter
	}
	u := binary.BigEndian.Uint64(v)
	if u > math.MaxInt64 {
		return 0, errBadCounter
	}
	return int64(u), nil
}
