// Command scaletest measures examples/server with a generated config of
// many keys (a million by default): how long the server takes from its
// start to its first answer, and its resident memory after one signed
// request from each key.
//
//	cd bench && go run ./cmd/scaletest [-keys 1000000] [-workers 8]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planguard/planguard/bench/scale"
	"github.com/planguard/planguard/keys"
)

func main() {
	n := flag.Int("keys", 1_000_000, "keys in the generated config")
	workers := flag.Int("workers", 8, "concurrent keep-alive connections")
	flag.Parse()
	if *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "scaletest: -keys and -workers must be positive")
		os.Exit(2)
	}
	if err := run(*n, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "scaletest:", err)
		os.Exit(1)
	}
}

func run(n, workers int) error {
	dir, err := os.MkdirTemp("", "planguard-scaletest")
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
	if err := os.WriteFile(cfgPath, scale.Config(n, 0), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()

	start := time.Now()
	srv := exec.Command(bin, "-config", cfgPath, "-addr", addr)
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	url := "http://" + addr + "/release" + scale.Path
	if err := waitReady(url, 5*time.Minute); err != nil {
		return err
	}
	ready := time.Since(start)
	rssReady, _ := rss(srv.Process.Pid)

	var next, ok, other atomic.Int64
	var wg sync.WaitGroup
	load := time.Now()
	for range workers {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}, Timeout: 10 * time.Second}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				s := keys.Signer{ID: scale.KeyID(i), Secret: keys.NewSecret(scale.Secret(i, 0)), Source: "scaletest"}
				if err := s.Sign(req); err != nil {
					other.Add(1)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(load)
	rssAfter, hwm := rss(srv.Process.Pid)
	fmt.Printf("| keys | ready after | RSS when ready | requests (one per key) | 200s | other | RSS after | peak RSS |\n")
	fmt.Printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %d | %v | %s | %d in %v (%.0f/s) | %d | %d | %s | %s |\n", n, ready.Round(10*time.Millisecond), mib(rssReady),
		n, elapsed.Round(time.Second), float64(n)/elapsed.Seconds(), ok.Load(), other.Load(), mib(rssAfter), mib(hwm))
	return nil
}

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

// rss reads the process's resident and peak resident memory, in KiB.
func rss(pid int) (cur, peak int64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), ":")
		v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			cur = v
		case "VmHWM":
			peak = v
		}
	}
	return cur, peak
}

// waitReady polls the server until it answers (a child process loading
// its config).
func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("examples/server did not start")
}
