package middleware

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// rawExchange writes req on a new TCP connection to f's server and
// returns everything the server sent until it closed the connection,
// with the read error (nil for a clean close).
func rawExchange(t *testing.T, f *fixture, req *http.Request) ([]byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, req.Write(conn))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	return io.ReadAll(conn)
}

func signed(t testing.TB, f *fixture, method, path string, body []byte) *http.Request {
	return signedBy(t, f, goldKey, goldSecret, method, path, body)
}

func signedBy(t testing.TB, f *fixture, id, secret, method, path string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	s := &keys.Signer{ID: id, Secret: keys.NewSecret(secret), Source: "test"}
	require.NoError(t, s.SignAt(req, f.clock()))
	return req
}

// The usage headers go on the wire spelled exactly as documented, not
// as Go canonicalises them (X-Usageplan-Quota, X-Api-Id): old clients
// read them case-sensitively.
func TestUsageHeadersSpelledExactlyOnTheWire(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	req := signed(t, f, "GET", "/release/orders", nil)
	req.Close = true
	raw, err := rawExchange(t, f, req)
	require.NoError(t, err)
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	require.True(t, strings.HasPrefix(head, "HTTP/1.1 200 "), head)
	for _, want := range []string{
		"\r\nX-UsagePlan-Quota: 99/100\r\n",
		"\r\nX-UsagePlan-RateLimit: 1000\r\n",
		"\r\nX-Api-ID: api-list0001\r\n",
		"\r\nRateLimit-Policy: ",
		"\r\nRateLimit: ",
	} {
		assert.Contains(t, head+"\r\n", want)
	}
	for _, bad := range []string{"X-Usageplan-Quota", "X-Usageplan-Ratelimit", "X-Api-Id:"} {
		assert.NotContains(t, head, bad)
	}
}

// A QPS refusal reports the quota that is really left (the middleware
// once rendered the limiter's Unlimited as 0/20), with the real limiter.
func TestQPSRefusalReportsRemainingQuota(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	gold, _ := f.reg.Snapshot().Plan("usagePlan-gold0001")
	gold.QPS, gold.Quota = 3, 20
	require.NoError(t, f.reg.UpdatePlan(gold))
	for i := range 3 {
		r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
		require.Equal(t, 200, r.status, "request %d", i)
	}
	r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 429, r.status)
	require.Equal(t, MessageQPS, r.body["message"])
	assert.Equal(t, "17/20", r.header.Get(HeaderQuota))
	assert.Equal(t, `"qps";r=0;t=1`, r.header.Get(HeaderRateLimitState))
}

// RateLimit-Policy gives every policy its window w in seconds: a
// calendar period's w is the length of the current period in the plan's
// time zone (a day across a DST change lasts 23 hours, a month its own
// length); a total quota, which never resets, has none.
func TestRateLimitPolicyWindows(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	dst := time.Date(2026, 3, 8, 12, 0, 0, 0, ny) // clocks went forward at 02:00
	cases := []struct {
		name, period, zone string
		qps, quota         int64
		now                time.Time
		want               string
	}{
		{"day", "day", "", 10, 1000, t0, `"qps";q=10;w=1, "quota";q=1000;w=86400`},
		{"day of a DST change", "day", "America/New_York", 10, 1000, dst, `"qps";q=10;w=1, "quota";q=1000;w=82800`},
		{"week", "week", "", 10, 1000, t0, `"qps";q=10;w=1, "quota";q=1000;w=604800`},
		{"week of a DST change", "week", "America/New_York", 10, 1000, dst, `"qps";q=10;w=1, "quota";q=1000;w=601200`},
		{"February", "month", "", 10, 1000, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC), `"qps";q=10;w=1, "quota";q=1000;w=2419200`},
		{"November", "month", "", 10, 1000, t0, `"qps";q=10;w=1, "quota";q=1000;w=2592000`},
		{"total", "total", "", 10, 1000, t0, `"qps";q=10;w=1, "quota";q=1000`},
		{"quota only", "day", "", limiter.Unlimited, 5, t0, `"quota";q=5;w=86400`},
		{"qps only", "day", "", 7, limiter.Unlimited, t0, `"qps";q=7;w=1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gold, _ := reg.Snapshot().Plan("usagePlan-gold0001")
			period, err := limiter.ParsePeriod(c.period)
			require.NoError(t, err)
			gold.QPS, gold.Quota, gold.QuotaPeriod, gold.TimeZone = c.qps, c.quota, period, c.zone
			require.NoError(t, reg.UpdatePlan(gold))
			snap := reg.Snapshot()
			d := derive(snap, "", false)
			plan, ok := snap.Resolve("service-abcd1234", "release", "api-list0001", goldKey)
			require.True(t, ok)
			ps := d.plans[plan.ID]
			for range 2 { // computed, then cached for the period
				h := http.Header{}
				var scratch headerScratch
				setUsageHeaders(h, &scratch, ps, &ps.limitState, &limiter.Decision{Allowed: true, Remaining: 1}, c.now)
				assert.Equal(t, []string{c.want}, h[HeaderRateLimitPolicy])
			}
			// The next period gets its own window.
			if c.period == "month" {
				h := http.Header{}
				var scratch headerScratch
				setUsageHeaders(h, &scratch, ps, &ps.limitState, &limiter.Decision{Allowed: true, Remaining: 1}, c.now.AddDate(0, 1, 0))
				assert.NotEqual(t, []string{c.want}, h[HeaderRateLimitPolicy])
			}
		})
	}
}

// closedConns sets srv's ConnState hook and returns a function that returns
// once the server has closed n connections.
func closedConns(srv *http.Server) func(n int) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	closed := 0
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			mu.Lock()
			closed++
			cond.Broadcast()
			mu.Unlock()
		}
	}
	return func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for closed < n {
			cond.Wait()
		}
	}
}

// A refused POST whose body the middleware never needed is drained
// before the refusal, so that the server closes the connection cleanly
// (nginx's default upstream requests say "Connection: close"): a
// connection closed with unread bytes is reset, and the reset can reach
// the proxy before the refusal (502). The client here reads only once
// the server has closed the connection, so a reset is always seen.
func TestRefusalDrainsBodyBeforeClose(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	f.srv.Close()
	mw, err := New(f.reg, f.lim, Config{Now: f.clock})
	require.NoError(t, err)
	f.srv = httptest.NewUnstartedServer(mw.Wrap(http.HandlerFunc(echo)))
	t.Cleanup(f.srv.Close)
	waitClosed := closedConns(f.srv.Config)
	f.srv.Start()

	body := bytes.Repeat([]byte("x"), 64<<10)
	cases := []struct {
		name   string
		req    func() *http.Request
		status string
	}{
		{"unsigned: 401", func() *http.Request {
			req, _ := http.NewRequest("POST", f.srv.URL+"/release/orders", bytes.NewReader(body))
			return req
		}, "401"},
		{"no API: 404", func() *http.Request {
			req, _ := http.NewRequest("POST", f.srv.URL+"/release/nowhere", bytes.NewReader(body))
			return req
		}, "404"},
		{"no plan: 403", func() *http.Request { return signedBy(t, f, loneKey, testSecret, "POST", "/release/orders", body) }, "403"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req()
			req.Close = true
			conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, req.Write(conn))
			waitClosed(i + 1)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			raw, err := io.ReadAll(conn)
			require.NoError(t, err, "the server reset the connection")
			assert.True(t, strings.HasPrefix(string(raw), "HTTP/1.1 "+c.status+" "), string(raw))
		})
	}
}

// On a kept-alive connection, a refused 512 KiB POST (above net/http's
// own 256 KiB discard, under MaxDrain) is drained, and the connection
// serves the next request.
func TestRefusalKeepsConnectionAlive(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	for _, size := range []int{64 << 10, 512 << 10} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/release/orders", bytes.NewReader(bytes.Repeat([]byte("x"), size)))
		require.NoError(t, req.Write(conn))
		resp, err := http.ReadResponse(br, req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 401, resp.StatusCode)
		require.False(t, resp.Close, "%d bytes: the refusal closes the connection", size)
	}
	req := signed(t, f, "GET", "/release/orders", nil)
	require.NoError(t, req.Write(conn))
	resp, err := http.ReadResponse(br, req)
	require.NoError(t, err, "the second request on the connection")
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// Beyond MaxDrain the refusal closes the connection instead.
	req, _ = http.NewRequest("POST", f.srv.URL+"/release/orders", io.LimitReader(zeros{}, MaxDrain+4096))
	req.ContentLength = MaxDrain + 4096
	go func() { _ = req.Write(conn) }()
	resp, err = http.ReadResponse(br, req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
	assert.True(t, resp.Close)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// exact reads a header set under its exact spelling (see canonQuota),
// which Header.Get, canonicalising, would miss.
func exact(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// A client that waits for "100 Continue" before sending its body is
// refused without being asked for the body.
func TestRefusalDoesNotAskForAnExpectedBody(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /release/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "the final status, not 100 Continue")
	assert.True(t, resp.Close)
}
