package main

import (
	"os/exec"
	"testing"

	"github.com/planguard/planguard/internal/proctest"
)

// process is a server process this test started, serving on addr.
type process struct {
	*proctest.Process
	t    *testing.T
	addr string
}

// startProcess starts the server binary bin with args on a free address
// and returns once it accepts connections. The test kills it at its end
// if it still runs (by its PID).
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	addr := proctest.FreeAddr(t)
	p := &process{Process: proctest.Start(t, exec.Command(bin, append(args, "-addr", addr)...)), t: t, addr: addr}
	p.WaitListening(addr)
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
