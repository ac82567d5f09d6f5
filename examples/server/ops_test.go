package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/keys"
)

// lockedBuffer is a bytes.Buffer the server's logger and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// jsonLines decodes the JSON log lines logged so far.
func (l *lockedBuffer) jsonLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// startLogged is start with the logs kept; ready gets every listener's
// address (the server's, then the admin's).
func startLogged(t *testing.T, listeners int, args ...string) (addrs []string, logs *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 2)
	code := make(chan int, 1)
	logs = &lockedBuffer{}
	go func() { code <- run(ctx, append(args, "-addr", "127.0.0.1:0"), logs, func(a string) { ready <- a }) }()
	for range listeners {
		select {
		case a := <-ready:
			addrs = append(addrs, a)
		case c := <-code:
			cancel()
			t.Fatalf("server exited %d: %s", c, logs.String())
		}
	}
	var once sync.Once
	var exit int
	stop = func() int { once.Do(func() { cancel(); exit = <-code }); return exit }
	t.Cleanup(func() { stop() })
	return addrs, logs, stop
}

// closedByServer reads from conn until the server closes it, and fails
// if that takes longer than 10 s or ends in anything but a clean close.
func closedByServer(t *testing.T, conn net.Conn, r io.Reader) []byte {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection open; read so far: %q", data)
	}
	if err != nil {
		t.Fatalf("the connection ended in %v, not a clean close; read: %q", err, data)
	}
	return data
}

// A kept-alive connection is closed after -idle-timeout; the client
// polls with a read deadline rather than sleeping.
func TestIdleConnectionIsClosed(t *testing.T) {
	addrs, _, _ := startLogged(t, 1, "-config", "testdata/config.json", "-idle-timeout", "200ms")
	conn, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	io.WriteString(conn, "GET /release/health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("%d close=%v", resp.StatusCode, resp.Close)
	}
	if rest := closedByServer(t, conn, br); len(rest) != 0 {
		t.Fatalf("unexpected bytes %q", rest)
	}
}

// A client that sends headers, or a body, too slowly is cut off by
// -read-header-timeout and -read-timeout.
func TestSlowClientsAreCutOff(t *testing.T) {
	addrs, _, _ := startLogged(t, 1, "-config", "testdata/config.json",
		"-read-header-timeout", "200ms", "-read-timeout", "300ms")
	cases := map[string]string{
		"slow headers": "GET /release/health HTTP/1.1\r\nHost: x\r\n",
		"slow body":    "POST /release/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
	}
	for name, partial := range cases {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, partial)
			closedByServer(t, conn, conn)
		})
	}
}

// Headers beyond -max-header-bytes are refused with 431.
func TestHeaderSizeLimit(t *testing.T) {
	addrs, _, _ := startLogged(t, 1, "-config", "testdata/config.json", "-max-header-bytes", "4096")
	conn, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// net/http allows 4096 bytes of slack beyond MaxHeaderBytes.
	io.WriteString(conn, "GET /release/health HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
	data := closedByServer(t, conn, conn)
	if !strings.HasPrefix(string(data), "HTTP/1.1 431 ") {
		t.Fatalf("%q", data)
	}
}

// Without flags the limits are the documented defaults, and the
// start-up log says so.
func TestDefaultLimitsAreLogged(t *testing.T) {
	_, logs, stop := startLogged(t, 1, "-config", "testdata/config.json", "-log-format", "json")
	stop()
	var serving map[string]any
	for _, l := range logs.jsonLines(t) {
		if l["msg"] == "serving" {
			serving = l
		}
	}
	want := map[string]any{
		"read_header_timeout": float64(10 * time.Second), "read_timeout": float64(time.Minute),
		"write_timeout": float64(time.Minute), "idle_timeout": float64(2 * time.Minute),
		"max_header_bytes": float64(64 << 10), "mode": "declarative", "store": "memory",
		"config": "testdata/config.json", "services": float64(1), "keys": float64(1), "plans": float64(1),
	}
	for k, v := range want {
		if serving[k] != v {
			t.Errorf("serving log %s = %v, want %v (%v)", k, serving[k], v, serving)
		}
	}
}

// The echo handler reads what it is sent: an admitted 64 KiB POST with
// "Connection: close" (what nginx sends upstream by default) ends in a
// clean close, not a reset that a proxy turns into 502.
func TestEchoReadsTheBody(t *testing.T) {
	addrs, _, _ := startLogged(t, 1, "-config", "testdata/config.json")
	req, _ := http.NewRequest("POST", "http://"+addrs[0]+"/release/orders", bytes.NewReader(bytes.Repeat([]byte("x"), 64<<10)))
	s := &keys.Signer{ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC")}
	if err := s.Sign(req); err != nil {
		t.Fatal(err)
	}
	req.Close = true
	conn, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	data := closedByServer(t, conn, conn)
	if !strings.HasPrefix(string(data), "HTTP/1.1 200 ") || !strings.Contains(string(data), `"bodyBytes":"65536"`) {
		t.Fatalf("%q", data)
	}
}

// The admin listener answers only a Host that names it: a DNS-rebinding
// page sends its own name and is refused; its body never names the store.
func TestAdminChecksHost(t *testing.T) {
	addrs, _, _ := startLogged(t, 2, "-config", "testdata/config.json", "-admin", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addrs[1])
	adminGet := func(addr, host string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/DescribeApiKeysStatus", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	for host, want := range map[string]int{
		"":                                 200, // the bound address, as Go's client sends it
		"localhost:" + port:                200,
		"attacker.example:" + port:         421,
		"attacker.example":                 421,
		net.JoinHostPort("127.0.0.1", "1"): 421,
	} {
		if code, body := adminGet(addrs[1], host); code != want {
			t.Errorf("Host %q: %d %s, want %d", host, code, body, want)
		}
	}

	// -admin-host adds a name clients use.
	addrs, _, _ = startLogged(t, 2, "-config", "testdata/config.json", "-admin", "127.0.0.1:0", "-admin-host", "admin.internal:8081")
	for host, want := range map[string]int{"admin.internal:8081": 200, "admin.internal:8082": 421} {
		if code, body := adminGet(addrs[1], host); code != want {
			t.Errorf("Host %q: %d %s, want %d", host, code, body, want)
		}
	}
}

// An admin listener bound beyond loopback is warned about at start-up
// (tests bind loopback only, so the rule is checked on addresses); one
// bound to every address has no address of its own that clients send as
// Host, so it is refused before it listens unless -admin-host names them.
func TestNonLoopbackAdminIsWarned(t *testing.T) {
	const warning = "the admin listener is not on loopback"
	_, logs, _ := startLogged(t, 2, "-config", "testdata/config.json", "-admin", "127.0.0.1:0")
	if strings.Contains(logs.String(), warning) {
		t.Errorf("a loopback admin listener was warned about: %s", logs)
	}
	for addr, loop := range map[string]bool{
		"127.0.0.1:8081": true, "[::1]:8081": true, "0.0.0.0:8081": false, "[::]:8081": false, "192.0.2.1:8081": false,
	} {
		if isLoopback(addr) != loop {
			t.Errorf("isLoopback(%s) = %v", addr, !loop)
		}
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-config", "testdata/config.json", "-addr", "127.0.0.1:0", "-admin", addr}, &stderr, nil)
		if code != 1 || !strings.Contains(stderr.String(), "-admin-host") {
			t.Errorf("-admin %s without -admin-host: exit %d, %s", addr, code, stderr.String())
		}
	}
}

// Logs: refusals at debug, nothing at debug with the default level; bad
// logging flags exit 2.
func TestLogging(t *testing.T) {
	addrs, logs, stop := startLogged(t, 1, "-config", "testdata/config.json", "-log-format", "json", "-log-level", "debug")
	resp, err := http.Get("http://" + addrs[0] + "/release/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	var refused, stopped bool
	for _, l := range logs.jsonLines(t) {
		switch l["msg"] {
		case "request refused":
			refused = l["level"] == "DEBUG" && l["reason"] == "auth" && l["auth_reason"] == "no_authorization" && l["path"] == "/release/orders"
		case "stopped":
			stopped = true
		}
	}
	if !refused || !stopped {
		t.Fatalf("refused %v, stopped %v:\n%s", refused, stopped, logs.String())
	}
	if strings.Contains(logs.String(), "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC") {
		t.Fatal("a secret in the logs")
	}

	addrs, logs, stop = startLogged(t, 1, "-config", "testdata/config.json")
	resp, err = http.Get("http://" + addrs[0] + "/release/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	if strings.Contains(logs.String(), "refused") {
		t.Fatalf("refusal logged at the default level:\n%s", logs.String())
	}

	for _, args := range [][]string{{"-log-level", "loud"}, {"-log-format", "xml"}, {"-idle-timeout", "0s"}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"-config", "testdata/config.json"}, args...), &stderr, nil); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// A real process: SIGHUP neither kills it nor stops it serving (it
// reloads the config, and says so); SIGTERM then stops it gracefully,
// exit status 0.
func TestSignalsOnARealProcess(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, exec.Command(bin, "-config", "testdata/config.json", "-addr", "127.0.0.1:0"))
	addr := p.WaitAttrs("serving", "addr")[0]
	get := func() int {
		resp, err := client.Get("http://" + addr + "/release/orders/1")
		if err != nil {
			t.Fatalf("request: %v\n%s", err, p.Log())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(); c != 200 {
		t.Fatalf("before SIGHUP: %d", c)
	}
	p.Signal(syscall.SIGHUP)
	p.WaitLog(1, "SIGHUP") // fails if SIGHUP killed the server
	if c := get(); c != 200 {
		t.Fatalf("after SIGHUP: %d", c)
	}
	p.Stop()
}

// -env naming an environment no service is published to is warned about
// at start-up (every request would be answered 404); one that a service
// is published to is not.
func TestUnpublishedEnvIsWarned(t *testing.T) {
	const warning = "no service is published to the environment -env names"
	for env, warned := range map[string]bool{"release": false, "relaese": true} {
		_, logs, stop := startLogged(t, 1, "-config", "testdata/config.json", "-env", env)
		if c := stop(); c != 0 {
			t.Fatalf("-env %s: exit %d", env, c)
		}
		if strings.Contains(logs.String(), warning) != warned {
			t.Errorf("-env %s: warned %v, want %v: %s", env, !warned, warned, logs)
		}
	}
}
