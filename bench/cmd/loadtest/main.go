// Command loadtest measures planguard over loopback: it builds and starts
// examples/server with a config of three routes on one server — a NONE
// API, a SECRET API under an unlimited plan, and a SECRET API under a
// 1000-QPS plan — loads the routes with signed keep-alive clients, and
// prints a Markdown table with throughput as a ratio of the NONE route's.
//
// After a warm-up, the routes take turns in -rounds rounds, so that noise
// from a shared machine falls on all of them alike. A route's ratio is the
// median of its per-round ratios to the NONE round just before it (a
// paired comparison); its other figures are from its median round.
//
//	cd bench && go run ./cmd/loadtest [-workers 8] [-duration 5s] [-rounds 5]
package main

import (
	"cmp"
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
	"slices"
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
	duration := flag.Duration("duration", 5*time.Second, "load per route, split over the rounds")
	rounds := flag.Int("rounds", 5, "rounds in which the routes take turns")
	flag.Parse()
	if *workers < 1 || *rounds < 1 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -workers, -rounds and -duration must be positive")
		os.Exit(2)
	}
	if err := run(*workers, *duration, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(workers int, duration time.Duration, rounds int) error {
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
	routes := []struct{ name, path string }{
		{"NONE auth", "/release/none"},
		{"SECRET, unlimited plan", "/release/unlimited"},
		{"SECRET, 1000-QPS plan", "/release/limited"},
	}
	load := func(path string, d time.Duration) (loadgen.Result, error) {
		return loadgen.Run(context.Background(), loadgen.Config{
			URL: "http://" + addr + path, Workers: workers, Duration: d, Sign: sign,
		})
	}
	if _, err := load(routes[0].path, duration/time.Duration(rounds)); err != nil { // warm-up
		return err
	}
	results := make([][]loadgen.Result, len(routes))
	for range rounds {
		for i, route := range routes {
			res, err := load(route.path, duration/time.Duration(rounds))
			if err != nil {
				return err
			}
			results[i] = append(results[i], res)
		}
	}

	fmt.Printf("Loopback load: %d keep-alive workers, %v per route in %d alternating rounds, examples/server with the in-memory store, %d CPUs shared by client and server. Ratio: median over the rounds of the route's throughput over the NONE route's in the same round; the other columns: the route's median round.\n\n",
		workers, duration, rounds, runtime.NumCPU())
	fmt.Println("| route | requests/s | ratio to NONE | p50 | p99 | statuses |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for i, route := range routes {
		ratios := make([]float64, rounds)
		for j := range rounds {
			ratios[j] = results[i][j].RPS() / results[0][j].RPS()
		}
		slices.Sort(ratios)
		res := median(results[i])
		fmt.Printf("| %s | %.0f | %.2f | %v | %v | %v |\n", route.name, res.RPS(), ratios[rounds/2],
			res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Status)
	}
	return nil
}

// median returns the round with the median throughput.
func median(rs []loadgen.Result) loadgen.Result {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b loadgen.Result) int { return cmp.Compare(a.RPS(), b.RPS()) })
	return rs[len(rs)/2]
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
