package boltstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/limiter"
)

// migrate converts a file written before format 1 — a single usage
// bucket of counters keyed plan|key|window (lengths as uint16) with
// 8-byte usages, and no header — to the current format, in one
// transaction. A file with a header, or anything else, is left for
// validate to judge. Such a file has no checksums, so what it holds is
// taken as it is, once.
func migrate(path string, db *bolt.DB) error {
	legacy := false
	err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(headerBucket) != nil {
			return nil
		}
		names := 0
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { names++; return nil })
		legacy = names == 1 && tx.Bucket(usageBucket) != nil
		return nil
	})
	if err != nil || !legacy {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		type counter struct {
			c    limiter.Counter
			used int64
		}
		var all []counter
		n := 0
		err := tx.Bucket(usageBucket).ForEach(func(k, v []byte) error {
			n++
			c, ok := decodeLegacyKey(k)
			if !ok || len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
				return corrupt(path, fmt.Sprintf("it has no planguard header, and its counter %d is not one of an earlier planguard either", n))
			}
			all = append(all, counter{c, int64(binary.BigEndian.Uint64(v))})
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(usageBucket); err != nil {
			return err
		}
		b, err := tx.CreateBucket(usageBucket)
		if err != nil {
			return err
		}
		for _, c := range all {
			k := counterKey(c.c)
			if err := b.Put(k, encodeValue(k, c.used)); err != nil {
				return err
			}
		}
		hb, err := tx.CreateBucket(headerBucket)
		if err != nil {
			return err
		}
		return hb.Put(formatKey, formatValue())
	})
}

// decodeLegacyKey decodes a counter key written before format 1:
// len(plan) uint16 | plan | len(key) uint16 | key | window uint64.
func decodeLegacyKey(k []byte) (limiter.Counter, bool) {
	if len(k) < 2 {
		return limiter.Counter{}, false
	}
	pl := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+pl+2 {
		return limiter.Counter{}, false
	}
	plan, rest := string(k[2:2+pl]), k[2+pl:]
	kl := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+kl+8 {
		return limiter.Counter{}, false
	}
	return limiter.Counter{Plan: plan, Key: string(rest[2 : 2+kl]), Window: int64(binary.BigEndian.Uint64(rest[2+kl:]))}, true
}
