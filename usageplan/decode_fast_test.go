package usageplan

import (
	"os"
	"reflect"
	"testing"
)

// FuzzDecodeFastMatchesSlow: whatever the fast path accepts, the slow
// path (which reports every problem) accepts with no problem and decodes
// to the same Config; what the slow path finds a problem in, the fast
// path leaves to it.
func FuzzDecodeFastMatchesSlow(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spec)
	for _, s := range []string{
		`{}`, `null`, `{"keys":[]} {}`, `{"keys":[{"id":"kkkkk","ID":"x"}]}`,
		`{"keys":[{"id":"kkkkk","id":"x"}]}`, `{"plans":[{"id":"p","qps":"10"}]}`,
		`{"plans":[{"id":"p","qps":1.5,"throttles":{"a":{"qps":1},"a":{"qps":2}}}]}`,
		`{"plans":[{"id":"p","enforce":"no"}]}`, `{"keys":[{"id":"k\u0041","name":"n"}]}`,
		`{"services":[{"id":"s","apis":[{"id":"a","auth":null}]}],"plans":null}`,
		`{"keys":[{"Id":"kkkkk"}]}`, `{"keys":{}}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast := decodeFast(data)
		slow, ps := decodeSlow(data)
		if fast == nil {
			return
		}
		if len(ps.list) > 0 {
			t.Fatalf("the fast path accepted what the slow path reports: %v", ps.err())
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("the paths decode differently:\n%#v\n%#v", fast, slow)
		}
	})
}
