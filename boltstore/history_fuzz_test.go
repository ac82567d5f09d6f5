package boltstore

import (
	"bytes"
	"testing"

	"github.com/planguard/planguard/metering"
)

// FuzzDecodeHistory feeds arbitrary keys and values to the decoders of
// the history rows and of the writers' records: they never panic, what
// they accept encodes back to the same bytes, and an index entry maps
// back to its row or writer.
func FuzzDecodeHistory(f *testing.F) {
	k := rowKey("usagePlan-a", "AKIDa", 1_700_006_400)
	f.Add(k, encodeCounts(k, metering.Counts{Requests: 1, Units: 2, Overage: 3, RefusedRate: 4, RefusedQuota: 5}))
	f.Add([]byte{0, 1, 'p', 0, 0}, []byte{})
	f.Add([]byte{0xff, 0xff}, make([]byte, historyValueLen))
	w := []byte("0123456789abcdef0123456789abcdef")
	f.Add(w, encodeWriterValue(w, writerPos{seq: 1 << 40, part: 3, at: 1_700_006_400_000_000_000}))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if plan, key, start, ok := decodeRowKey(k); ok {
			if got := rowKey(plan, key, start); !bytes.Equal(got, k) {
				t.Fatalf("row key %x decodes and encodes to %x", k, got)
			}
			if got := rowKeyOf(indexKey(k)); !bytes.Equal(got, k) {
				t.Fatalf("row key %x goes through the index as %x", k, got)
			}
		}
		if c, err := decodeCounts(k, v); err == nil && v != nil {
			if got := encodeCounts(k, c); !bytes.Equal(got, v) {
				t.Fatalf("value %x decodes to %+v and encodes to %x", v, c, got)
			}
		}
		// The same bytes as a writer entry: one that passes its
		// checksum encodes back to itself, and its index entry holds its
		// writer after its time.
		if p, ok := decodeWriterValue(k, v); ok {
			if got := encodeWriterValue(k, p); !bytes.Equal(got, v) {
				t.Fatalf("writer entry %x decodes to %+v and encodes to %x", v, p, got)
			}
			if ak := writerAgeKey(k, p.at); !bytes.Equal(ak[8:], k) || !bytes.Equal(ak[:8], v[12:20]) {
				t.Fatalf("writer %x at %d: index entry %x", k, p.at, ak)
			}
		}
	})
}
