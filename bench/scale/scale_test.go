package scale

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// These benchmarks use only the registry API that main had before issue
// 15 (LoadConfig, Load, the mutators), so that the same file measures
// both builds (A/B).

func load(b *testing.B, data []byte) *usageplan.Registry {
	b.Helper()
	reg, err := usageplan.LoadConfig(bytes.NewReader(data), usageplan.RegistryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	return reg
}

// BenchmarkLoadConfig loads a config of n keys, and reports the time per
// key and the heap the registry holds per key beyond its ID and secret
// strings (measured once, after a GC).
func BenchmarkLoadConfig(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		data := Config(n, 0)
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			var reg *usageplan.Registry
			var before runtime.MemStats
			for b.Loop() {
				reg = nil
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				reg = load(b, data)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			strs := n * (len(KeyID(0)) + len(Secret(0, 0)))
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)-int64(strs))/float64(n), "heapB/key")
			runtime.KeepAlive(reg)
		})
	}
}

// BenchmarkChange applies one change of each kind to a registry of n
// keys.
func BenchmarkChange(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		reg := load(b, Config(n, 0))
		next := n
		newKey := func() string {
			next++
			return KeyID(next)
		}
		b.Run(fmt.Sprintf("keys=%d/kind=AddKey", n), func(b *testing.B) {
			for b.Loop() {
				must(b, reg.AddKey(keys.Key{ID: newKey(), Name: "k", Secret: keys.NewSecret(Secret(next, 0))}))
			}
		})
		b.Run(fmt.Sprintf("keys=%d/kind=DisableEnableKey", n), func(b *testing.B) {
			id := KeyID(n / 2)
			i := 0
			for b.Loop() {
				if i++; i%2 == 1 {
					must(b, reg.DisableKey(id))
				} else {
					must(b, reg.EnableKey(id))
				}
			}
			must(b, reg.EnableKey(id))
		})
		b.Run(fmt.Sprintf("keys=%d/kind=RotateKey", n), func(b *testing.B) {
			id := KeyID(n / 3)
			i := 0
			for b.Loop() {
				i++
				_, err := reg.RotateKeyTo(id, keys.NewSecret(Secret(n/3, i%10000)))
				must(b, err)
			}
		})
		b.Run(fmt.Sprintf("keys=%d/kind=DeleteKey", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				id := newKey()
				must(b, reg.AddKey(keys.Key{ID: id, Name: "k", Secret: keys.NewSecret(Secret(next, 0)), Status: keys.Disabled}))
				b.StartTimer()
				must(b, reg.DeleteKey(id))
			}
		})
		b.Run(fmt.Sprintf("keys=%d/kind=BindUnbindKey", n), func(b *testing.B) {
			id := newKey()
			must(b, reg.AddKey(keys.Key{ID: id, Name: "k", Secret: keys.NewSecret(Secret(next, 0))}))
			i := 0
			for b.Loop() {
				if i++; i%2 == 1 {
					must(b, reg.BindKeys(PlanID(1), id))
				} else {
					must(b, reg.UnbindKeys(PlanID(1), id))
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/kind=UpdatePlan", n), func(b *testing.B) {
			p, _ := reg.Snapshot().Plan(PlanID(2))
			i := 0
			for b.Loop() {
				i++
				p.QPS = int64(100 + i%2)
				must(b, reg.UpdatePlan(p))
			}
		})
		b.Run(fmt.Sprintf("keys=%d/kind=BindUnbindPlan", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if i++; i%2 == 1 {
					must(b, reg.Unbind(PlanID(3), Service, "release"))
				} else {
					must(b, reg.Bind(PlanID(3), binding.Target{Service: Service, Environment: "release"}))
				}
			}
			if i%2 == 1 {
				must(b, reg.Bind(PlanID(3), binding.Target{Service: Service, Environment: "release"}))
			}
		})
	}
}

// BenchmarkReload loads into a registry of n keys the same config
// (unchanged), and one with 1% of the keys' secrets changed.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		same, changed := Config(n, 0), Config(n, n/100)
		reg := load(b, same)
		b.Run(fmt.Sprintf("keys=%d/unchanged", n), func(b *testing.B) {
			for b.Loop() {
				must(b, reg.Load(bytes.NewReader(same)))
			}
		})
		b.Run(fmt.Sprintf("keys=%d/changed=1%%", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				data := changed
				if i++; i%2 == 0 {
					data = same
				}
				must(b, reg.Load(bytes.NewReader(data)))
			}
		})
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func TestConfigLoads(t *testing.T) {
	reg, err := usageplan.LoadConfig(bytes.NewReader(Config(100, 10)), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := reg.Snapshot().Resolve(Service, "release", API, KeyID(42))
	if !ok || p.ID != PlanID(2) {
		t.Fatalf("key 42 resolves to %v, %v", p, ok)
	}
}

// BenchmarkLoadManyPlans loads a config of n plans, each binding the
// same service environment and a key of its own (a plan per customer):
// the exclusivity rule pairs plans that share a key, not every two.
func BenchmarkLoadManyPlans(b *testing.B) {
	for _, n := range []int{5_000, 10_000, 20_000} {
		var d bytes.Buffer
		fmt.Fprintf(&d, `{"services": [{"id": %q, "name": "scale", "environments": ["release"], "apis": [`+
			`{"id": %q, "name": "get", "method": "GET", "path": %q}]}], "keys": [`, Service, API, Path)
		for i := range n {
			if i > 0 {
				d.WriteByte(',')
			}
			fmt.Fprintf(&d, "\n"+`{"id": %q, "name": "k", "secret": %q}`, KeyID(i), Secret(i, 0))
		}
		d.WriteString("],\n\"plans\": [")
		for i := range n {
			if i > 0 {
				d.WriteByte(',')
			}
			fmt.Fprintf(&d, "\n"+`{"id": "usagePlan-%08x", "name": "p", "qps": 100, "quota": 1000, "bindings": [{"service": %q, "environment": "release"}], "keys": [%q]}`, i, Service, KeyID(i))
		}
		d.WriteString("]}\n")
		b.Run("plans="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				load(b, d.Bytes())
			}
		})
	}
}
