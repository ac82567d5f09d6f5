package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// The handler sees, beside the caller, the key's name and the limiter's
// decision: the quota left, when its period ends, every policy.
func TestHandlerSeesKeyNameAndDecision(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	var policies []string
	observer := func(_ context.Context, e *Event) {
		policies = policies[:0]
		for _, p := range e.Decision.Policies() {
			policies = append(policies, p.Name)
		}
	}
	m, err := New(reg, lim, Config{Now: func() time.Time { return t0 }, Observer: observer})
	require.NoError(t, err)
	var seen []Caller
	h := m.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		require.True(t, ok)
		seen = append(seen, c)
	}))
	for range 3 {
		r := httptest.NewRequest("GET", "/release/orders/42", nil)
		require.NoError(t, (&keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}).SignAt(r, t0))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, 200, w.Code)
	}
	require.Len(t, seen, 3)
	last := seen[2]
	require.Equal(t, "gold", last.KeyName)
	require.Equal(t, goldKey, last.SecretID)
	d := last.Decision
	require.True(t, d.Decided)
	require.True(t, d.Allowed)
	require.Equal(t, int64(97), d.Remaining, "a quota of 100 a day, 3 requests")
	require.True(t, d.Reset.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)), "reset %v", d.Reset)
	require.Equal(t, []string{"qps", "quota"}, policies, "the Observer gets every policy")
	require.Equal(t, int64(98), seen[1].Decision.Remaining, "each request keeps its own decision")

	// An API with auth NONE: no key, no plan, no decision.
	seen = nil
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/release/health", nil))
	require.Equal(t, 200, w.Code)
	require.Len(t, seen, 1)
	require.Empty(t, seen[0].KeyName)
	require.Nil(t, seen[0].Plan)
	require.Equal(t, Decision{}, seen[0].Decision)
	require.Empty(t, policies)
}

// FromContext returns a value: a handler that changes its Caller changes
// nothing that a second FromContext, the Observer or a later request
// sees.
func TestFromContextReturnsACopy(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	var observed string
	m, err := New(reg, lim, Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	h := m.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c, _ := FromContext(r.Context())
		c.SecretID, c.Environment = "forged", "forged"
		again, _ := FromContext(r.Context())
		observed = again.SecretID + " " + again.Environment
	}))
	r := httptest.NewRequest("GET", "/release/orders/42", nil)
	require.NoError(t, (&keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}).SignAt(r, t0))
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, goldKey+" release", observed)
}

// NewContext puts a Caller where FromContext finds it, so that a handler
// is unit-tested without the middleware; a context without one reports
// none.
func TestNewContext(t *testing.T) {
	_, ok := FromContext(context.Background())
	require.False(t, ok)

	api := &usageplan.API{ID: "api-get00001", Name: "getOrder"}
	want := Caller{Service: "service-abcd1234", Environment: "release", API: api, SecretID: goldKey, KeyName: "gold"}
	want.Decision.Remaining = 7
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no caller", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(c.KeyName + " " + c.API.Name))
	})
	r := httptest.NewRequest("GET", "/orders/1", nil)
	r = r.WithContext(NewContext(r.Context(), want))
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	require.Equal(t, "gold getOrder", w.Body.String())

	got, ok := FromContext(r.Context())
	require.True(t, ok)
	require.Equal(t, want, got)
	got.KeyName = "changed"
	again, _ := FromContext(r.Context())
	require.Equal(t, "gold", again.KeyName, "the context's Caller is its own copy")
}
