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

// newAdmin serves the admin queries to the Hosts a client of a
// loopback listener on 127.0.0.1:8081 sends (cloudapi.LoopbackHosts).
func newAdmin(t *testing.T, reg *usageplan.Registry, usage usageplan.Usage) http.Handler {
	t.Helper()
	h, err := NewAdmin(reg, usage, AdminConfig{Hosts: []string{"127.0.0.1:8081", "localhost:8081"}})
	require.NoError(t, err)
	return h
}

// NewAdmin refuses to serve without a Host list, or with an empty Host
// in it (which would accept an HTTP/1.0 request that sends none).
func TestAdminNeedsHosts(t *testing.T) {
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	_, err := NewAdmin(reg, nil, AdminConfig{})
	assert.Error(t, err, "Hosts is required")
	_, err = NewAdmin(reg, nil, AdminConfig{Hosts: []string{"127.0.0.1:8081", ""}})
	assert.Error(t, err, "an empty Host")
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
		"[::1]:8081":            http.StatusMisdirectedRequest, // not listed: another listener's address
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
