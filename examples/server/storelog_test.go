package main

import (
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/planguard/planguard/internal/proctest"
)

// A store failure is logged at warn, once, with its cause; the refusal
// body does not name the store.
func TestStoreFailureIsLogged(t *testing.T) {
	dead := proctest.FreeAddr(t) // nothing listens there
	addrs, logs, stop := startLogged(t, 1, "-config", "testdata/config.json", "-redis", dead, "-log-format", "json")
	for range 2 {
		code, body := get(t, "http://"+addrs[0]+"/release/orders")
		if code != http.StatusServiceUnavailable || body["message"] != "Usage plan store unavailable." {
			t.Fatalf("%d %v", code, body)
		}
	}
	stop()
	var warned int
	for _, l := range logs.jsonLines(t) {
		if l["msg"] == "quota store failed" && l["error"] != nil && l["level"] == "WARN" {
			warned++
		}
	}
	if warned != 1 {
		t.Fatalf("%d store-failure warnings, want 1:\n%s", warned, logs.String())
	}
	if !strings.Contains(logs.String(), `"store":"redis"`) {
		t.Fatalf("start-up log lacks the store:\n%s", logs.String())
	}
}

// The first request admitted after a store failure logs the recovery.
func TestStoreRecoveryIsLogged(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	addr := proctest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	addrs, logs, stop := startLogged(t, 1, "-config", "testdata/config.json", "-redis", addr, "-log-format", "json")
	if code, _ := get(t, "http://"+addrs[0]+"/release/orders"); code != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d", code)
	}
	// The redis-server this test started, killed by its PID at the end.
	proctest.Start(t, exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")).WaitListening(addr)
	var code int
	for range 100 { // the pool may hand out a dead connection or two first
		if code, _ = get(t, "http://"+addrs[0]+"/release/orders"); code == http.StatusOK {
			break
		}
	}
	stop()
	if code != http.StatusOK || !strings.Contains(logs.String(), `"msg":"quota store recovered"`) {
		t.Fatalf("last %d:\n%s", code, logs.String())
	}
}
