// Package scale generates registry configurations of any number of keys,
// for the scale benchmarks of the registry (scale_test.go) and the
// million-key load test of examples/server (cmd/scaletest).
package scale

import (
	"bytes"
	"fmt"
)

// Plans is the number of plans a generated config holds; key i is bound
// to plan i%Plans, and every plan service-wide to the release
// environment of the one service.
const Plans = 10

// Service and APIs of a generated config.
const (
	Service = "service-scale001"
	API     = "api-scale001"
	Path    = "/scale"
)

// KeyID returns the ID of key i.
func KeyID(i int) string { return fmt.Sprintf("key_%08d", i) }

// Secret returns the secret of key i, as generation round gen wrote it.
func Secret(i, gen int) string { return fmt.Sprintf("secret_%08d_%04d_abcdefghij", i, gen) }

// PlanID returns the ID of plan p.
func PlanID(p int) string { return fmt.Sprintf("usagePlan-scale%03d", p) }

// Config returns a config of n keys. Keys whose index is below changed
// get the secrets of generation 1 (a reload with changed = n/100 changes
// 1% of the keys).
func Config(n, changed int) []byte {
	var b bytes.Buffer
	b.Grow(n * 110)
	fmt.Fprintf(&b, `{"services": [{"id": %q, "name": "scale", "environments": ["release"], "apis": [`+
		`{"id": %q, "name": "get", "method": "GET", "path": %q}]}],`+"\n", Service, API, Path)
	b.WriteString(`"keys": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		gen := 0
		if i < changed {
			gen = 1
		}
		fmt.Fprintf(&b, "\n"+`{"id": %q, "name": "k", "secret": %q}`, KeyID(i), Secret(i, gen))
	}
	b.WriteString("],\n\"plans\": [")
	for p := range Plans {
		if p > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n"+`{"id": %q, "name": "p%d", "qps": 100, "quota": 1000000, "bindings": [{"service": %q, "environment": "release"}], "keys": [`, PlanID(p), p, Service)
		first := true
		for i := p; i < n; i += Plans {
			if !first {
				b.WriteByte(',')
			}
			first = false
			fmt.Fprintf(&b, "%q", KeyID(i))
		}
		b.WriteString("]}")
	}
	b.WriteString("]}\n")
	return b.Bytes()
}
