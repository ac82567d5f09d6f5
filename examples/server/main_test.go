package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/keys"
)

// start runs the server until the returned stop is called; stop returns
// the exit code.
func start(t *testing.T, args ...string) (addr string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 2)
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { code <- run(ctx, append(args, "-addr", "127.0.0.1:0"), &stderr, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case c := <-code:
		t.Fatalf("server exited %d: %s", c, stderr.String())
	}
	return addr, func() int { cancel(); return <-code }
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &keys.Transport{Signer: &keys.Signer{
	ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"),
}}}

func get(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestServesAndEchoes(t *testing.T) {
	addr, stop := start(t, "-config", "testdata/config.json")
	code, body := get(t, "http://"+addr+"/release/orders/42")
	if code != 200 || body["api"] != "api-get00001" || body["plan"] != "usagePlan-kgf82zcd" ||
		body["secretId"] != "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN" || body["path"] != "/orders/42" {
		t.Fatalf("%d %v", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/test/orders"); code != 403 {
		t.Fatalf("unbound environment: %d", code)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
}

func TestAdminListener(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 2)
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		code <- run(ctx, []string{"-config", "testdata/config.json", "-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, &stderr, func(a string) { addrs <- a })
	}()
	addr, admin := <-addrs, <-addrs
	if c, _ := get(t, "http://"+addr+"/release/orders"); c != 200 {
		t.Fatalf("request: %d", c)
	}
	resp, err := http.Get("http://" + admin + "/DescribeUsagePlan?UsagePlanId=usagePlan-kgf82zcd")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Response struct{ Result struct{ InUseRequestNum int } }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.Response.Result.InUseRequestNum != 1 {
		t.Fatalf("admin: %d %+v", resp.StatusCode, body)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, stderr.String())
	}
}

func TestFixedEnvironment(t *testing.T) {
	addr, stop := start(t, "-config", "testdata/config.json", "-env", "release")
	if code, body := get(t, "http://"+addr+"/orders"); code != 200 || body["environment"] != "release" {
		t.Fatalf("%d %v", code, body)
	}
	stop()
}

// Quota usage survives a restart with -state.
func TestStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "usage.db")
	addr, stop := start(t, "-config", "testdata/config.json", "-state", state)
	for i := range 2 {
		if code, _ := get(t, "http://"+addr+"/release/orders"); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	addr, stop = start(t, "-config", "testdata/config.json", "-state", state)
	defer stop()
	if code, _ := get(t, "http://"+addr+"/release/orders"); code != 200 {
		t.Fatalf("third request: %d", code)
	}
	if code, body := get(t, "http://"+addr+"/release/orders"); code != 429 || body["message"] != "API quota exceeded." {
		t.Fatalf("fourth request: %d %v", code, body)
	}
}

func TestBadConfigExitsWithEveryProblem(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"plans": [{"id": "usagePlan-x", "name": "bad name", "qps": 0}]}`), 0o600)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-config", bad}, &stderr, nil)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"plans[0].id", "plans[0].name", "plans[0].qps"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr.String())
		}
	}
	if code := run(context.Background(), nil, &stderr, nil); code != 2 {
		t.Errorf("no -config: exit %d", code)
	}
}

// Two servers sharing one Redis enforce one quota (3 a month) between
// them.
func TestTwoServersShareRedis(t *testing.T) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must provide REDIS_ADDR")
		}
		t.Skip("REDIS_ADDR not set")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	stale, _ := rdb.Keys(context.Background(), "pg:{18:usagePlan-kgf82zcd/*").Result()
	if len(stale) > 0 {
		rdb.Del(context.Background(), stale...)
	}
	a, stopA := start(t, "-config", "testdata/config.json", "-redis", addr)
	defer stopA()
	b, stopB := start(t, "-config", "testdata/config.json", "-redis", addr)
	defer stopB()
	codes := map[int]int{}
	for i := range 8 {
		host := a
		if i%2 == 1 {
			host = b
		}
		code, _ := get(t, "http://"+host+"/release/orders")
		codes[code]++
	}
	if codes[200] != 3 || codes[429] != 5 {
		t.Fatalf("%v, want 3 admitted across both servers", codes)
	}
}

// TestMetricsEndpoint scrapes /metrics from the admin listener after
// requests of three results: the counts are those sent, no series names
// the key, and a Host that is not the admin's is refused.
func TestMetricsEndpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 2)
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		code <- run(ctx, []string{"-config", "testdata/config.json", "-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, &stderr, func(a string) { addrs <- a })
	}()
	addr, admin := <-addrs, <-addrs
	for range 2 {
		if c, _ := get(t, "http://"+addr+"/release/orders"); c != 200 {
			t.Fatalf("admitted: %d", c)
		}
	}
	for range 3 {
		resp, err := http.Get("http://" + addr + "/release/orders") // unsigned
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c, _ := get(t, "http://"+addr+"/release/nothing"); c != 404 {
		t.Fatalf("not found: %d", c)
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, data)
	}
	text := string(data)
	for _, want := range []string{
		`planguard_requests_total{api="api-list0001",environment="release",plan="usagePlan-kgf82zcd",result="admitted",service="service-abcd1234"} 2`,
		`planguard_requests_total{api="api-list0001",environment="release",plan="",result="auth",service="service-abcd1234"} 3`,
		`planguard_requests_total{api="",environment="release",plan="",result="not_found",service=""} 1`,
		`planguard_auth_refusals_total{reason="no_authorization"} 3`,
		`planguard_request_duration_seconds_count{result="admitted"} 2`,
		`planguard_store_call_duration_seconds_count 2`,
		`planguard_store_errors_total 0`,
		`planguard_registry_revision `,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "AKID") {
		t.Error("a key ID in the metrics")
	}

	req, _ := http.NewRequest("GET", "http://"+admin+"/metrics", nil)
	req.Host = "attacker.example:80"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d", resp.StatusCode)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, stderr.String())
	}
}
