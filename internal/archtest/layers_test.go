// Package archtest keeps the package layering of STYLE.md: arrows point
// down, and the core module imports nothing beyond its allowed
// dependencies.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
}

// allowed lists, per package, the planguard packages and third-party
// modules it may import (the standard library is always allowed).
var allowed = map[string][]string{
	"keys":       {"github.com/hashicorp/golang-lru/v2", "internal/randstr"},
	"binding":    {},
	"usageplan":  {"keys", "binding", "limiter", "internal/route", "internal/randstr"},
	"limiter":    {"golang.org/x/time/rate", "github.com/hashicorp/golang-lru/v2"},
	"metering":   {"limiter"},
	"middleware": {"keys", "binding", "usageplan", "limiter", "metering", "internal/route", "golang.org/x/time/rate"},
	"cloudapi":   {"keys", "binding", "usageplan", "limiter", "metering"},
	// planguardtest drives the whole stack, so it sits above middleware.
	"planguardtest": {"keys", "usageplan", "limiter", "middleware"},
	// internal/route is the routing table of usageplan and middleware.
	"internal/route": {},
	// internal/randstr draws generated IDs and secrets for keys and usageplan.
	"internal/randstr": {},
	// internal/proctest and internal/tc3test are test support: the
	// standard library only, and imported by tests only (testOnly).
	"internal/proctest": {},
	"internal/tc3test":  {},
}

// testOnly are the packages no package imports outside its tests.
var testOnly = []string{"internal/proctest", "internal/tc3test"}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/planguard/planguard/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const root = "github.com/planguard/planguard/"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, root)
		for _, imp := range p.Imports {
			for _, only := range testOnly {
				if imp == root+only {
					t.Errorf("%s imports %s outside its tests", name, imp)
				}
			}
		}
		rules, ok := allowed[name]
		if !ok {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			target := strings.TrimPrefix(imp, root)
			okImport := false
			for _, a := range rules {
				if target == a || strings.HasPrefix(target, a+"/") {
					okImport = true
				}
			}
			if !okImport {
				t.Errorf("%s imports %s, which STYLE.md's layering does not allow", name, imp)
			}
		}
	}
	if seen < 3 {
		t.Fatalf("found only %d layered packages; is go list working?", seen)
	}
}
