package readmetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
)

// TestWalkthrough follows README's "From zero to a 200 and a 429"
// section as a new user would: its planguard.json and main.go, in a
// module of their own that requires planguard (here replaced by this
// checkout, since the test cannot fetch it), built and run. Signed
// requests get three 200s with the quota left, then 429; an unsigned one
// 401; SIGTERM ends the server with exit status 0. The only change to
// the README's code is the listen address: a free port instead of 8080.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program with the go command")
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(md)
	start := strings.Index(section, "## From zero")
	if start < 0 {
		t.Fatal(`README.md has no "## From zero" section`)
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```(json|go)\n(.*?)```").FindAllStringSubmatch(section, -1)
	var config, program string
	for _, b := range blocks {
		switch {
		case b[1] == "json" && config == "":
			config = b[2]
		case b[1] == "go" && program == "":
			program = b[2]
		}
	}
	if config == "" || program == "" {
		t.Fatalf("the section has no json or no go block (%d blocks)", len(blocks))
	}
	const readmeAddr = `"127.0.0.1:8080"`
	if !strings.Contains(program, readmeAddr) {
		t.Fatalf("main.go does not listen on %s", readmeAddr)
	}
	addr := freeAddr(t)
	program = strings.Replace(program, readmeAddr, `"`+addr+`"`, 1)

	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The README's steps: go mod init, go get, the two files, go mod
	// tidy, go build. go get is a replace here (the module is this
	// checkout); go mod tidy then records what main.go's imports need,
	// which go get of the root package alone does not.
	gomod := fmt.Sprintf(`module example.com/hello

go 1.25.0

require github.com/planguard/planguard v0.0.0

replace github.com/planguard/planguard => %s
`, absRoot)
	for name, content := range map[string]string{"go.mod": gomod, "planguard.json": config, "main.go": program} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tidy := exec.Command(goTool(), "mod", "tidy")
	tidy.Dir = dir
	tidy.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	build := exec.Command(goTool(), "build", "-o", "hello", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	secret := "walkthrough0secret0of0forty0characters00"
	server := exec.Command(filepath.Join(dir, "hello"))
	server.Dir = dir
	server.Env = append(os.Environ(), "HELLO_SECRET="+secret)
	logs := &syncBuffer{}
	server.Stdout, server.Stderr = logs, logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	waited := false // set once the test has received from exited
	t.Cleanup(func() {
		if !waited {
			server.Process.Kill() // the process this test started, by its PID
			<-exited
		}
	})
	waitListening(t, addr, exited, logs)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &keys.Transport{Signer: &keys.Signer{
		ID: "hello_key_1", Secret: keys.NewSecret(secret),
	}}}
	url := "http://" + addr + "/release/hello"
	for i, want := range []string{
		"200 hello me: 2 left today\n",
		"200 hello me: 1 left today\n",
		"200 hello me: 0 left today\n",
		"429 {\"message\":\"API quota exceeded.\"}\n",
	} {
		if got := get(t, client, url); got != want {
			t.Errorf("signed request %d: %q, want %q", i+1, got, want)
		}
	}
	want := "401 {\"message\":\"HMAC signature cannot be verified, a validate authorization header is required\"}\n"
	if got := get(t, http.DefaultClient, url); got != want {
		t.Errorf("unsigned request: %q, want %q", got, want)
	}

	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0; output:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the server did not exit within 30 s of SIGTERM; output:\n%s", logs.String())
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(resp.StatusCode, " ", string(body))
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until the server accepts connections on addr, or
// exits, for up to 30 s: it waits for another process, not for time.
func waitListening(t *testing.T, addr string, exited chan error, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("the server exited before listening: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("the server did not listen on %s within 30 s: %v", addr, errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// syncBuffer collects a process's output, written by exec's copying
// goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
