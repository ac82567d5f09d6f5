// Package loadgen is a small HTTP load generator for loopback benchmarks:
// keep-alive connections, a fixed number of workers, each with its own
// request signer, bounded by a duration and a request count.
package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	URL      string
	Workers  int           // concurrent keep-alive connections
	Duration time.Duration // stop after this long
	MaxReqs  int           // and after this many requests (0: no bound)
	// Sign prepares each worker's requests (nil: unsigned). It is called
	// once per worker and returns the RoundTripper that worker uses.
	Sign func(base http.RoundTripper) http.RoundTripper
}

// Result summarises a run.
type Result struct {
	Requests int
	Elapsed  time.Duration
	Status   map[int]int
	Errors   int
	P50, P99 time.Duration
}

// RPS is the completed requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Run sends GET requests to cfg.URL until the duration or count runs
// out. Only loopback addresses are accepted.
func Run(ctx context.Context, cfg Config) (Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return Result{}, err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return Result{}, errors.New("loadgen: only loopback targets are allowed")
	}
	if cfg.Workers <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: Workers and Duration must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		res       = Result{Status: map[int]int{}}
		budget    = make(chan struct{}, max(cfg.MaxReqs, 1))
	)
	if cfg.MaxReqs > 0 {
		for range cfg.MaxReqs {
			budget <- struct{}{}
		}
		close(budget)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			if cfg.Sign != nil {
				rt = cfg.Sign(rt)
			}
			client := &http.Client{Transport: rt, Timeout: 5 * time.Second}
			local := make([]time.Duration, 0, 4096)
			status := map[int]int{}
			errs := 0
			for ctx.Err() == nil {
				if cfg.MaxReqs > 0 {
					if _, ok := <-budget; !ok {
						break
					}
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				status[resp.StatusCode]++
			}
			mu.Lock()
			latencies = append(latencies, local...)
			for k, v := range status {
				res.Status[k] += v
			}
			res.Errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(latencies)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P50 = latencies[len(latencies)/2]
		res.P99 = latencies[len(latencies)*99/100]
	}
	return res, nil
}
