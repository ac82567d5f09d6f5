package usageplan

import (
	"bytes"
	"os"
	"reflect"
	"strings"
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
		if !reflect.DeepEqual(reg.Snapshot().model(), again.Snapshot().model()) {
			t.Fatalf("reload differs:\n%s", out.String())
		}
	})
}

// FuzzPlanLimitsConfig: a plan's burst, windows, throttles and enforce,
// with fuzzed values, never panic the loader; a config it accepts exports
// and reloads to the same registry, and its windows and throttles obey
// the rules (at most MaxWindows, names unique, each throttled API bound).
func FuzzPlanLimitsConfig(f *testing.F) {
	f.Add(`50`, `[{"name": "per_minute", "requests": 300, "per": "minute"}]`, `{"api-aaaaaaaa": {"qps": 2, "burst": 4}}`, `false`)
	f.Add(`null`, `[{"name": "w", "requests": 1, "per": "10s"}, {"name": "w", "requests": 1, "per": "1h30m"}]`, `{}`, `true`)
	f.Add(`0.5`, `{}`, `[]`, `"no"`)
	f.Add(`1e3`, `[{"name": "quota", "requests": -1, "per": "86401s"}]`, `{"api-zzzzzzzz": {"qps": 1}, "api-aaaaaaaa": {}}`, `null`)
	f.Fuzz(func(t *testing.T, burst, limits, throttles, enforce string) {
		doc := `{"services": [{"id": "service-aaaaaaaa", "name": "s", "environments": ["release"], "apis": [
		  {"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a"}]}],
		  "keys": [], "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 10,
		  "burst": ` + burst + `, "limits": ` + limits + `, "throttles": ` + throttles + `, "enforce": ` + enforce + `,
		  "bindings": [{"service": "service-aaaaaaaa", "environment": "release"}]}]}`
		reg, err := LoadConfig(strings.NewReader(doc), testOptions())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		p, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
		if len(p.Limits) > MaxWindows {
			t.Fatalf("%d windows accepted", len(p.Limits))
		}
		seen := map[string]bool{}
		for _, w := range p.Limits {
			if seen[w.Name] || w.Requests < 1 || w.Per < MinWindowPer || w.Per > MaxWindowPer {
				t.Fatalf("window %+v accepted", w)
			}
			seen[w.Name] = true
		}
		for api, th := range p.Throttles {
			if api != "api-aaaaaaaa" || th.QPS < 1 || th.Burst < 0 {
				t.Fatalf("throttle %s %+v accepted", api, th)
			}
		}
		var out bytes.Buffer
		if err := reg.Export(&out); err != nil {
			t.Fatal(err)
		}
		again, err := LoadConfig(bytes.NewReader(out.Bytes()), testOptions())
		if err != nil {
			t.Fatalf("exported config does not reload: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(reg.Snapshot().model(), again.Snapshot().model()) {
			t.Fatalf("reload differs:\n%s", out.String())
		}
	})
}
