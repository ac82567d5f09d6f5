// Command loadtest measures planguard over loopback: it builds and starts
// examples/server with a config of three routes on one server — a NONE
// API, a SECRET API under an unlimited plan, and a SECRET API under a
// 1000-QPS plan — loads each route in turn with signed keep-alive
// clients, and prints a Markdown table with throughput as a ratio of the
// NONE route's.
//
//	cd bench && go run ./cmd/loadtest [-workers 8] [-duration 3s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/planguard/planguard/bench/loadgen"
	"github.com/planguard/planguard/keys"
)

const config = `{
  "services": [{"id": "service-bench001", "name": "bench", "environments": ["release"],
    "apis": [
      {"id": "api-none0001", "name": "none", "method": "GET", "path": "/none", "auth": "NONE"},
      {"id": "api-unlim001", "name": "unlimited", "method": "GET", "path": "/unlimited"},
      {"id": "api-limit001", "name": "limited", "method": "GET", "path": "/limited"}
    ]}],
  "keys": [{"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "bench", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
  "plans": [
    {"id": "usagePlan-unlim001", "name": "unlimited", "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
     "bindings": [{"service": "service-bench001", "environment": "release", "apis": ["api-unlim001"]}]},
    {"id": "usagePlan-limit001", "name": "limited", "qps": 1000, "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
     "bindings": [{"service": "service-bench001", "environment": "release", "apis": ["api-limit001"]}]}
  ]
}`

func main() {
	workers := flag.Int("workers", 8, "concurrent keep-alive connections")
	duration := flag.Duration("duration", 3*time.Second, "load per route")
	flag.Parse()
	if err := run(*workers, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(workers int, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "planguard-loadtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "server")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building examples/server: %w", err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	srv := exec.Command(bin, "-config", cfgPath, "-addr", addr)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	if err := waitReady("http://" + addr + "/release/none"); err != nil {
		return err
	}

	sign := func(base http.RoundTripper) http.RoundTripper {
		return &keys.Transport{Base: base, Signer: &keys.Signer{
			ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"), Source: "loadtest",
		}}
	}
	fmt.Printf("Loopback load: %d keep-alive workers, %v per route, examples/server with the in-memory store, %d CPUs shared by client and server.\n\n",
		workers, duration, runtime.NumCPU())
	fmt.Println("| route | requests/s | ratio to NONE | p50 | p99 | statuses |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	var base float64
	for _, route := range []struct{ name, path string }{
		{"NONE auth", "/release/none"},
		{"SECRET, unlimited plan", "/release/unlimited"},
		{"SECRET, 1000-QPS plan", "/release/limited"},
	} {
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: "http://" + addr + route.path, Workers: workers, Duration: duration, Sign: sign,
		})
		if err != nil {
			return err
		}
		if base == 0 {
			base = res.RPS()
		}
		fmt.Printf("| %s | %.0f | %.2f | %v | %v | %v |\n", route.name, res.RPS(), res.RPS()/base,
			res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Status)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the server until it answers (it is a child process
// starting up).
func waitReady(url string) error {
	for range 100 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("examples/server did not start")
}
