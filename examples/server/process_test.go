package main

import (
	"os/exec"
	"testing"

	"github.com/planguard/planguard/internal/proctest"
)

// process is a server process this test started, serving on addr
// (and on admin, when args asked for an admin listener).
type process struct {
	*proctest.Process
	t           *testing.T
	addr, admin string
}

// startProcess starts the server binary bin with args, listening on a
// port of loopback the system picks, and returns once it serves. The
// test kills it at its end if it still runs (by its PID).
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{Process: proctest.Start(t, exec.Command(bin, append(args, "-addr", "127.0.0.1:0")...)), t: t}
	addrs := p.WaitAttrs("serving", "addr", "admin") // both listeners are bound before that line
	p.addr, p.admin = addrs[0], addrs[1]
	return p
}

// status returns the status of a signed GET of path.
func (p *process) status(path string) int {
	p.t.Helper()
	resp, err := client.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v\n%s", path, err, p.Log())
	}
	resp.Body.Close()
	return resp.StatusCode
}
