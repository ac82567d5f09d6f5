package boltstore

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/limiter"
)

// legacyKey is the counter key written before format 1.
func legacyKey(c limiter.Counter) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(c.Plan)))
	b = append(b, c.Plan...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Key)))
	b = append(b, c.Key...)
	return binary.BigEndian.AppendUint64(b, uint64(c.Window))
}

func writeLegacy(t *testing.T, path string, entries map[string][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(usageBucket)
		if err != nil {
			return err
		}
		for k, v := range entries {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
}

// A file written before format 1 keeps its counts: Open converts it once.
func TestOpenMigratesFormat0(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	a := limiter.Counter{Plan: "usagePlan-a", Key: "AKIDa", Window: 1_700_006_400}
	b := limiter.Counter{Plan: "usagePlan-a", Key: "AKIDb"}
	writeLegacy(t, path, map[string][]byte{
		string(legacyKey(a)): binary.BigEndian.AppendUint64(nil, 42),
		string(legacyKey(b)): binary.BigEndian.AppendUint64(nil, 7),
	})
	for range 2 { // converted, then opened as format 1
		s, err := Open(path, Config{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		for c, want := range map[limiter.Counter]int64{a: 42, b: 7} {
			if got, err := s.Usage(ctx, c); err != nil || got != want {
				t.Fatalf("%+v: %d, %v; want %d", c, got, err, want)
			}
		}
		if got, err := s.PlanUsage(ctx, a.Plan, a.Window); err != nil || len(got) != 1 || got[a.Key] != 42 {
			t.Fatalf("PlanUsage = %v, %v", got, err)
		}
		s.Close()
	}

	bad := filepath.Join(t.TempDir(), "bad.db")
	writeLegacy(t, bad, map[string][]byte{string(legacyKey(a)): {1, 2, 3}})
	if _, err := Open(bad, Config{Create: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a header-less file with a bad counter: %v, want ErrCorrupt", err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, _ := bolt.Open(foreign, 0o600, nil)
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	db.Close()
	if _, err := Open(foreign, Config{Create: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another program's bbolt file: %v, want ErrCorrupt", err)
	}
}
