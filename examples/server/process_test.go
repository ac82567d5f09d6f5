package main

import (
	"bufio"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a server process this test started, with its log lines.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string

	mu     sync.Mutex
	logged []string
	more   chan struct{} // closed and replaced when a line arrives or the process ends
	exited bool
}

// startProcess starts the server binary bin with args on a free address
// and returns once it accepts connections. The test kills it at its end
// if it still runs (by its PID).
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{t: t, addr: freeAddr(t), more: make(chan struct{})}
	p.cmd = exec.Command(bin, append(args, "-addr", p.addr)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logged = append(p.logged, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		p.cmd.Wait()
		p.mu.Lock()
		p.exited = true
		close(p.more)
		p.mu.Unlock()
		close(done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // this test's own process, by its PID
		<-done
	})
	// Ready when it accepts a connection: connecting is refused at once
	// until then, so this loop waits for the process, not for time.
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			conn.Close()
			return p
		}
		if p.hasExited() || time.Now().After(deadline) {
			t.Fatalf("the server did not start: %v\n%s", err, p.log())
		}
		runtime.Gosched()
	}
}

func (p *process) hasExited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logged, "\n")
}

// waitLog waits for the n-th log line (counting from 1) that contains
// every one of parts, and returns it; the test fails if the process ends
// or 20 s pass first.
func (p *process) waitLog(n int, parts ...string) string {
	p.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		p.mu.Lock()
		seen := 0
		for _, l := range p.logged {
			if containsAll(l, parts) {
				if seen++; seen == n {
					p.mu.Unlock()
					return l
				}
			}
		}
		more, exited := p.more, p.exited
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("the server exited before logging %q (%d times):\n%s", parts, n, p.log())
		}
		select {
		case <-more:
		case <-timeout:
			p.t.Fatalf("no log line with %q (%d times) in 20 s:\n%s", parts, n, p.log())
		}
	}
}

// countLog counts the log lines that contain every one of parts.
func (p *process) countLog(parts ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.logged {
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

func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// status returns the status of a signed GET of path.
func (p *process) status(path string) int {
	p.t.Helper()
	resp, err := client.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v\n%s", path, err, p.log())
	}
	resp.Body.Close()
	return resp.StatusCode
}
