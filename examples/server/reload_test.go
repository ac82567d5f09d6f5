package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/planguard/planguard/internal/proctest"
)

const testKey = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"

// configVariant returns testdata/config.json with each old string
// replaced by its new one.
func configVariant(t *testing.T, oldNew ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("the config has no %q", oldNew[i])
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return []byte(s)
}

func writeConfig(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

var disabledKey = []string{`"secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}`, `"secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC", "status": "disabled"}`}

// Declarative mode: SIGHUP re-reads -config and applies the difference,
// keeping consumed quota, and logs what changed; an invalid file changes
// nothing and every problem is logged.
func TestReloadOnSIGHUP(t *testing.T) {
	bin := proctest.Build(t, ".")
	cfg := filepath.Join(t.TempDir(), "planguard.json")
	writeConfig(t, cfg, configVariant(t))
	p := startProcess(t, bin, "-config", cfg)
	if c := p.status("/release/orders"); c != 200 { // quota: 1 of 3 used
		t.Fatalf("before any reload: %d", c)
	}

	// Invalid: two problems, and a disabled key that must not apply.
	writeConfig(t, cfg, configVariant(t, append(disabledKey,
		`"qps": 1000`, `"qps": 0`,
		`"method": "POST"`, `"method": "FETCH"`)...))
	p.Signal(syscall.SIGHUP)
	p.WaitLog(1, "config reload refused")
	if n := p.CountLog("config problem", "qps"); n != 1 {
		t.Errorf("%d problems about qps logged, want 1:\n%s", n, p.Log())
	}
	if n := p.CountLog("config problem", "method"); n != 1 {
		t.Errorf("%d problems about the method logged, want 1:\n%s", n, p.Log())
	}
	if c := p.status("/release/orders"); c != 200 { // 2 of 3
		t.Fatalf("after an invalid config: %d, want 200 (the previous config)", c)
	}

	// Valid: the key disabled, the plan's description changed.
	writeConfig(t, cfg, configVariant(t, append(disabledKey, "paying tier", "paying tier, reloaded")...))
	p.Signal(syscall.SIGHUP)
	p.WaitLog(1, `msg="config reloaded"`)
	p.WaitLog(1, "config reload", "entity=key", "change=disabled", testKey)
	p.WaitLog(1, "config reload", "entity=plan", "change=changed", "usagePlan-kgf82zcd")
	if c := p.status("/release/orders"); c != 401 {
		t.Fatalf("after disabling the key: %d, want 401", c)
	}

	// Enabled again: the quota used before the reloads still counts.
	writeConfig(t, cfg, configVariant(t))
	p.Signal(syscall.SIGHUP)
	p.WaitLog(2, `msg="config reloaded"`)
	p.WaitLog(1, "config reload", "entity=key", "change=enabled", testKey)
	if c := p.status("/release/orders"); c != 200 { // 3 of 3
		t.Fatalf("after enabling the key: %d", c)
	}
	if c := p.status("/release/orders"); c != 429 {
		t.Fatalf("the fourth request of a quota of 3: %d, want 429 (consumed quota kept across reloads)", c)
	}

	// The same file again: nothing changes.
	p.Signal(syscall.SIGHUP)
	p.WaitLog(1, "config reloaded: nothing changed")
	if strings.Contains(p.Log(), "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC") {
		t.Fatal("the log shows the key's secret")
	}
	p.Signal(syscall.SIGTERM)
	p.WaitLog(1, `msg=stopped`)
}
