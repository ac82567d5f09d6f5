package usageplan

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// FuzzLoadConfig: the loader never panics, and every config it accepts
// exports and reloads to the same registry.
func FuzzLoadConfig(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spec)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"services":[{"id":"service-aaaaaaaa","name":"s","environments":["test"],"apis":[{"id":"api-aaaaaaaa","name":"a","method":"ANY","path":"/{x...}"}]}],"keys":[{"id":"kkkkk","name":"k","secret":"0123456789"}],"plans":[{"id":"usagePlan-aaaaaaaa","name":"p","qps":5,"keys":["kkkkk"],"bindings":[{"service":"service-aaaaaaaa","environment":"test","apis":["api-aaaaaaaa"]}]}]}`))
	f.Add([]byte(`{"plans":[{"id":"usagePlan-aaaaaaaa","name":"p","qps":1e3,"quota":-1}]}`))
	f.Add([]byte(`{"plans":[{"id":"usagePlan-aaaaaaaa","name":"p","qps":1,"qps":2,"Qps":3}],"plans":null}`))
	f.Add([]byte("{\n \"keys\": [{\"id\": 5}, \"x\", null]\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := LoadConfig(bytes.NewReader(data), testOptions())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		var out bytes.Buffer
		if err := reg.Export(&out); err != nil {
			t.Fatal(err)
		}
		again, err := LoadConfig(bytes.NewReader(out.Bytes()), testOptions())
		if err != nil {
			t.Fatalf("exported config does not reload: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(reg.Snapshot().m, again.Snapshot().m) {
			t.Fatalf("reload differs:\n%s", out.String())
		}
	})
}
