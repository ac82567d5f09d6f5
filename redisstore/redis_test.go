package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisAddr is the Redis the tests share: $REDIS_ADDR (CI starts one),
// or a redis-server this test binary starts. In CI a missing Redis is a
// failure, not a skip.
var redisAddr string

func TestMain(m *testing.M) {
	redisAddr = os.Getenv("REDIS_ADDR")
	var srv *redisServer
	if redisAddr == "" {
		dir, _ := os.MkdirTemp("", "redisstore")
		var err error
		srv, err = startRedis(dir, 0)
		if err != nil {
			if os.Getenv("CI") != "" {
				fmt.Fprintln(os.Stderr, "redisstore: CI needs Redis:", err)
				os.Exit(1)
			}
			fmt.Fprintln(os.Stderr, "redisstore: skipping, no Redis:", err)
			os.Exit(0)
		}
		redisAddr = srv.addr
		os.Setenv("REDIS_ADDR", redisAddr) // for ExampleDial, which reads it as a user would
	}
	code := m.Run()
	if srv != nil {
		srv.stop()
		os.RemoveAll(srv.dir)
	}
	os.Exit(code)
}

// redisServer is a redis-server process with append-only persistence.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	port int
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server on 127.0.0.1 (port 0: a free one) with
// its files in dir, and waits until it answers. args replace the default
// persistence settings (append-only, fsync every second).
func startRedis(dir string, port int, args ...string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if len(args) == 0 {
		args = []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}
	}
	args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--protected-mode", "yes"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &redisServer{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, port: port}
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	for range 200 { // up to 10 s for the server to accept connections
		if c.Ping(context.Background()).Err() == nil {
			return s, nil
		}
		waitABit()
	}
	s.stop()
	return nil, fmt.Errorf("redis-server on %s did not answer", s.addr)
}

// waitABit yields to a starting server process; it waits for an event
// outside this process, not for the clock to pass a limit.
func waitABit() { time.Sleep(50 * time.Millisecond) }

func (s *redisServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

var prefixes atomic.Int64

// newStore returns a store on the shared Redis under a prefix no other
// test uses.
// testTimeout is the store's deadline in the tests that are not about it.
const testTimeout = 10 * time.Second

func newStore(t testing.TB, addr string, opts Config) (*Store, *redis.Client) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 64})
	t.Cleanup(func() { c.Close() })
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("test%d-%d:", os.Getpid(), prefixes.Add(1))
	}
	if opts.Timeout == 0 {
		// A test that is not about the deadline must not fail because a
		// loaded 2-core machine answered past the 100 ms default; the
		// tests of the deadline set their own.
		opts.Timeout = testTimeout
	}
	s, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func tempDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "redis")
	os.MkdirAll(dir, 0o700)
	return dir
}

// ownRedis starts a redis-server for one test (for tests that restart,
// pause or shard it) and stops it when the test ends. args as startRedis.
func ownRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	srv, err := startRedis(tempDir(t), 0, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop() })
	return srv
}

// noPersistence are redis-server settings that keep nothing across a
// restart.
var noPersistence = []string{"--save", "", "--appendonly", "no"}
