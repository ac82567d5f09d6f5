// Package proctest builds a program and runs it as a process of its own
// for tests: on loopback, with its standard error read line by line,
// stopped by signals sent to its PID and killed (only it, by its PID)
// when the test ends. It is imported by tests only.
//
// Every wait here is for the process, not for time to pass: a wait ends
// as soon as the process does what is awaited, and fails the test after
// Timeout, when the process has hung.
package proctest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds every wait of this package.
const Timeout = time.Minute

// Build compiles the main package in dir (relative to the test's
// directory) into a temporary directory the test removes, with the go
// command of the toolchain that runs the test, and returns the program's
// path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(absDir(dir)))
	if err := goBuild(dir, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Binary is a main package built at most once for all the tests of a
// package: the first Path builds it, the others share it. The package's
// TestMain calls Remove after m.Run.
type Binary struct {
	Dir string // the main package's directory, relative to the test's

	once sync.Once
	tmp  string
	path string
	err  error
}

// Path returns the program's path, building it on the first call.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		if b.tmp, b.err = os.MkdirTemp("", "proctest-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.tmp, filepath.Base(absDir(b.Dir)))
		b.err = goBuild(b.Dir, b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the program, if it was built.
func (b *Binary) Remove() {
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// goBuild runs go build -o out in dir, with $GOROOT/bin/go when it
// exists (the toolchain that runs the test), else the go on $PATH.
func goBuild(dir, out string) error {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", dir, err, b)
	}
	return nil
}

// FreeAddr returns a loopback address (127.0.0.1:port) on which nothing
// listened when it was chosen.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a process the test started, with the lines it has written
// to its standard error so far.
type Process struct {
	t   testing.TB
	cmd *exec.Cmd

	mu      sync.Mutex
	lines   []string
	more    chan struct{} // closed and replaced when a line arrives or the process ends
	exited  bool
	waitErr error
	done    chan struct{} // closed once the process has exited and its stderr is read
}

// Start starts cmd, which must not have been started and whose Stderr
// must be nil: Start reads the process's standard error. When the test
// ends, the process is killed if it still runs (by its PID) and waited
// for.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{t: t, cmd: cmd, more: make(chan struct{}), done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr) // past a line too long to scan
		err := cmd.Wait()
		p.mu.Lock()
		p.exited, p.waitErr = true, err
		close(p.more)
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // this test's own process, by its PID; a no-op once it has exited
		<-p.done
	})
	return p
}

// PID returns the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Log returns the lines written to standard error so far, each ended by
// a newline.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ""
	}
	return strings.Join(p.lines, "\n") + "\n"
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// WaitLog waits for the n-th line (counting from 1) of standard error
// that contains every one of parts, and returns it. The test fails if
// the process exits first, or after Timeout.
func (p *Process) WaitLog(n int, parts ...string) string {
	p.t.Helper()
	return p.waitLine(n, fmt.Sprintf("%q", parts), func(l string) bool { return containsAll(l, parts) })
}

// WaitAttrs waits for the first line of standard error that log/slog's
// text or JSON handler wrote with message msg, and returns the values
// of its attributes keys, in order ("" for one the line lacks). A
// program told to listen on 127.0.0.1:0 and to log the address it got
// is ready once that line is written, with no port chosen in advance
// that another process could take first.
func (p *Process) WaitAttrs(msg string, keys ...string) []string {
	p.t.Helper()
	var attrs map[string]string
	p.waitLine(1, "msg "+strconv.Quote(msg), func(l string) bool {
		attrs = slogAttrs(l)
		return attrs != nil && attrs["msg"] == msg
	})
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = attrs[k]
	}
	return vals
}

// waitLine waits for the n-th line of standard error that match
// accepts; what describes such a line in a failure.
func (p *Process) waitLine(n int, what string, match func(string) bool) string {
	p.t.Helper()
	timeout := time.After(Timeout)
	for {
		p.mu.Lock()
		seen := 0
		for _, l := range p.lines {
			if match(l) {
				if seen++; seen == n {
					p.mu.Unlock()
					return l
				}
			}
		}
		more, exited := p.more, p.exited
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("the process exited before logging %s (%d times):\n%s", what, n, p.Log())
		}
		select {
		case <-more:
		case <-timeout:
			p.t.Fatalf("no log line with %s (%d times) in %v:\n%s", what, n, Timeout, p.Log())
		}
	}
}

// slogAttrs returns the top-level attributes of a line that log/slog's
// JSON or text handler wrote (values as strings), or nil for another
// line.
func slogAttrs(line string) map[string]string {
	attrs := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			return nil
		}
		for k, v := range m {
			attrs[k] = fmt.Sprint(v)
		}
		return attrs
	}
	// quoted splits a quoted string (slog quotes a key or value that
	// needs it) off the front of s.
	quoted := func(s string) (string, string, bool) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", false
		}
		v, _ := strconv.Unquote(q)
		return v, s[len(q):], true
	}
	for rest := line; rest != ""; {
		var key, after string
		ok := true
		if strings.HasPrefix(rest, `"`) {
			key, after, ok = quoted(rest)
			if ok && strings.HasPrefix(after, "=") {
				after = after[1:]
			} else {
				ok = false
			}
		} else {
			key, after, ok = strings.Cut(rest, "=")
			ok = ok && key != "" && !strings.ContainsAny(key, " \"")
		}
		if !ok {
			return nil
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			if val, after, ok = quoted(after); !ok {
				return nil
			}
		} else {
			val, after, _ = strings.Cut(after, " ")
			after = " " + after
		}
		attrs[key] = val
		rest = strings.TrimPrefix(after, " ")
	}
	return attrs
}

// CountLog counts the lines of standard error so far that contain every
// one of parts.
func (p *Process) CountLog(parts ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if containsAll(l, parts) {
			n++
		}
	}
	return n
}

func containsAll(s string, parts []string) bool {
	for _, part := range parts {
		if !strings.Contains(s, part) {
			return false
		}
	}
	return true
}

// WaitListening dials addr until it accepts a connection. Connecting is
// refused at once until the process listens, so this waits for the
// process, not for time; the test fails if the process exits first, or
// after Timeout.
func (p *Process) WaitListening(addr string) {
	p.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			p.t.Fatalf("the process did not listen on %s: %v\n%s", addr, err, p.Log())
		}
		runtime.Gosched()
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// Wait waits for the process to exit and returns what exec.Cmd.Wait
// returned (nil for exit status 0). The test fails after Timeout.
func (p *Process) Wait() error {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(Timeout):
		p.t.Fatalf("the process did not exit in %v:\n%s", Timeout, p.Log())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Stop sends SIGTERM and waits for the process to exit; the test fails
// unless it exits with status 0.
func (p *Process) Stop() {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	if err := p.Wait(); err != nil {
		p.t.Fatalf("after SIGTERM: %v\n%s", err, p.Log())
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	p.t.Helper()
	p.Signal(syscall.SIGKILL)
	_ = p.Wait()
}
