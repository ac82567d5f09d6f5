package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// keyStore is a Registry whose keys live elsewhere (a database, say):
// the services, plans and bindings of reg, the keys from lookup.
type keyStore struct {
	*usageplan.Registry
	err     atomic.Pointer[error] // when set, every lookup fails with it
	lookups atomic.Int64
	ctxErr  atomic.Pointer[error] // the lookup context's Err when called
}

func (s *keyStore) LookupKey(ctx context.Context, id string) (keys.Key, error) {
	s.lookups.Add(1)
	err := ctx.Err()
	s.ctxErr.Store(&err)
	if e := s.err.Load(); e != nil {
		return keys.Key{}, *e
	}
	return s.Registry.LookupKey(ctx, id)
}

// A database outage is not an unknown key: a lookup that fails answers
// 503 "Usage plan store unavailable." (Reason RefusedStore), never 401
// or 403, and fail-open does not serve it — an unauthenticated request
// is never served. A lookup error that wraps keys.ErrNotFound is an
// unknown key (401). The lookup's context is not the client's: a
// request whose client went away still gets a lookup that is not
// cancelled.
func TestLookupErrorIsAStoreFailure(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
		require.NoError(t, err)
		store := &keyStore{Registry: reg}
		lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		require.NoError(t, err)
		var seen []Reason
		var causes []error
		mw, err := New(store, lim, Config{FailOpen: failOpen,
			Observer: func(_ context.Context, e *Event) { seen = append(seen, e.Reason) },
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *Error) {
				causes = append(causes, e.Cause)
				WriteJSON(w, r, e)
			}})
		require.NoError(t, err)
		h := mw.Wrap(http.HandlerFunc(echo))
		serve := func(ctx context.Context) *httptest.ResponseRecorder {
			req := httptest.NewRequest("GET", "/release/orders", nil).WithContext(ctx)
			s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
			require.NoError(t, s.Sign(req))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}

		require.Equal(t, 200, serve(context.Background()).Code, "the store's keys verify")
		require.EqualValues(t, 1, store.lookups.Load(), "the middleware looks keys up through its Registry")

		outage := errors.New("dial tcp 10.0.0.7:5432: connection refused")
		store.err.Store(&outage)
		rec := serve(context.Background())
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "failOpen=%v", failOpen)
		require.JSONEq(t, `{"message": "Usage plan store unavailable."}`, rec.Body.String())
		require.Equal(t, RefusedStore, seen[len(seen)-1])
		require.ErrorIs(t, causes[len(causes)-1], outage, "the ErrorHandler gets the lookup's error")

		// The client's cancellation does not reach the lookup.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec = serve(ctx)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.NoError(t, *store.ctxErr.Load(), "the lookup's context is not the client's")

		notFound := error(&keys.StateError{Key: goldKey, Op: "look up", Err: keys.ErrNotFound})
		store.err.Store(&notFound)
		rec = serve(context.Background())
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.JSONEq(t, `{"message": "HMAC signature cannot be verified."}`, rec.Body.String())
		require.Equal(t, RefusedAuth, seen[len(seen)-1])
	}
}

// The Middleware takes any Registry: a stand-in that serves a fixed
// snapshot serves requests by it, and New registers the usage resetter
// only where there is a ResetUsageWith to call.
type fixedSnapshot struct{ snap *usageplan.Snapshot }

func (f fixedSnapshot) Snapshot() *usageplan.Snapshot { return f.snap }
func (f fixedSnapshot) LookupKey(ctx context.Context, id string) (keys.Key, error) {
	return f.snap.LookupKey(ctx, id)
}

func TestNewTakesAnyRegistry(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	fixed := fixedSnapshot{reg.Snapshot()}
	require.NoError(t, reg.DisableKey(goldKey)) // after the snapshot: the stand-in still has it enabled
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	mw, err := New(fixed, lim, Config{})
	require.NoError(t, err)
	req := httptest.NewRequest("GET", "/release/orders", nil)
	require.NoError(t, (&keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}).Sign(req))
	rec := httptest.NewRecorder()
	mw.Wrap(http.HandlerFunc(echo)).ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code, rec.Body.String())

	_, err = New((*usageplan.Registry)(nil), lim, Config{})
	require.Error(t, err, "a nil *usageplan.Registry is refused, not a panic on the first request")
}
