package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/usageplan"
)

func newAdmin(t *testing.T, reg *usageplan.Registry, usage usageplan.Usage) http.Handler {
	t.Helper()
	hosts, err := AdminHosts("127.0.0.1:8081")
	require.NoError(t, err)
	h, err := NewAdmin(reg, usage, AdminConfig{Hosts: hosts})
	require.NoError(t, err)
	return h
}

func TestAdminHosts(t *testing.T) {
	cases := []struct {
		addr string
		want []string
	}{
		{"127.0.0.1:8081", []string{"localhost:8081", "127.0.0.1:8081", "[::1]:8081"}},
		{"[::1]:9", []string{"localhost:9", "127.0.0.1:9", "[::1]:9"}},
		{"127.0.0.2:8081", []string{"localhost:8081", "127.0.0.1:8081", "[::1]:8081", "127.0.0.2:8081"}},
		{"192.0.2.7:8081", []string{"192.0.2.7:8081"}},
		{"127.0.0.1:80", []string{"localhost:80", "localhost", "127.0.0.1:80", "127.0.0.1", "[::1]:80", "[::1]"}},
	}
	for _, c := range cases {
		got, err := AdminHosts(c.addr)
		require.NoError(t, err, c.addr)
		assert.Equal(t, c.want, got, c.addr)
	}
	any, err := AdminHosts("0.0.0.0:8081")
	require.NoError(t, err)
	assert.Contains(t, any, "localhost:8081")
	assert.Contains(t, any, "127.0.0.1:8081")
	assert.NotContains(t, any, "0.0.0.0:8081")
	for _, bad := range []string{"localhost:8081", "8081", "example.com:80"} {
		_, err := AdminHosts(bad)
		assert.Error(t, err, bad)
	}
	_, err = NewAdmin(usageplan.NewRegistry(usageplan.Options{}), nil, AdminConfig{})
	assert.Error(t, err, "Hosts is required")
}

// DNS rebinding: a page on attacker.example whose name resolves to the
// loopback listener sends Host: attacker.example:8081; it is refused
// before any query runs. The listener's own addresses are served.
func TestAdminRefusesForeignHost(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	admin := newAdmin(t, f.reg, nil)
	for host, want := range map[string]int{
		"attacker.example:8081": http.StatusMisdirectedRequest,
		"127.0.0.1:9999":        http.StatusMisdirectedRequest,
		"localhost":             http.StatusMisdirectedRequest,
		"":                      http.StatusMisdirectedRequest,
		"127.0.0.1:8081":        http.StatusOK,
		"LOCALHOST:8081":        http.StatusOK,
		"[::1]:8081":            http.StatusOK,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/DescribeApiKeysStatus", nil)
		req.Host = host
		admin.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, "Host %q: %s", host, rec.Body)
	}
}

type failingUsage struct{}

func (failingUsage) PlanUsage(context.Context, usageplan.Plan) (map[string]int64, int64, error) {
	return nil, 0, errors.New("dial tcp 10.1.2.3:6379: connect: connection refused")
}

// A store failure answers 503 without the store's address (it goes to
// the log).
func TestAdminStoreErrorHidesAddress(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	var logs bytes.Buffer
	admin, err := NewAdmin(f.reg, failingUsage{}, AdminConfig{Hosts: []string{"127.0.0.1:8081"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/DescribeUsagePlan?UsagePlanId=usagePlan-gold0001", nil)
	req.Host = "127.0.0.1:8081"
	admin.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotContains(t, rec.Body.String(), "10.1.2.3")
	assert.Contains(t, rec.Body.String(), MessageStoreFailed)
	assert.Contains(t, logs.String(), "10.1.2.3:6379")
}
