package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
)

// switchStore fails its quota calls while fail is set.
type switchStore struct {
	limiter.MemoryStore
	fail atomic.Bool
}

func (s *switchStore) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (int64, int64, error) {
	if s.fail.Load() {
		return 0, 0, errors.New("connection refused")
	}
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(b.buf.String())
	b.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestLogObserver: refusals at debug with their reason and no secret;
// a failing store is logged once at warn when it starts failing and
// once when it recovers, not once per request.
func TestLogObserver(t *testing.T) {
	out := &syncBuffer{}
	l := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "elapsed" || a.Key == "after" {
				return slog.Attr{}
			}
			return a
		}}))
	store := &switchStore{}
	f := newFixture(t, Config{Observer: LogObserver(l)}, store)

	require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	require.Empty(t, out.lines())
	require.Equal(t, 401, f.do(t, "GET", "/release/orders", goldKey, "wrong-secret", nil).status)
	require.Equal(t, 403, f.do(t, "GET", "/release/orders", loneKey, testSecret, nil).status)
	require.Equal(t, []string{
		`level=DEBUG msg="request refused" reason=auth method=GET path=/release/orders auth_reason=signature_mismatch environment=release service=service-abcd1234 api=api-list0001`,
		`level=DEBUG msg="request refused" reason=no_plan method=GET path=/release/orders environment=release service=service-abcd1234 api=api-list0001`,
	}, out.lines())

	store.fail.Store(true)
	for range 3 {
		require.Equal(t, 503, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	refused := `level=DEBUG msg="request refused" reason=store_failure method=GET path=/release/orders environment=release service=service-abcd1234 api=api-list0001 plan=usagePlan-gold0001 key_id=` + goldKey
	require.Equal(t, []string{
		`level=WARN msg="quota store failed" error="connection refused" plan=usagePlan-gold0001`,
		refused, refused, refused,
	}, out.lines())

	store.fail.Store(false)
	for range 2 {
		require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	require.Equal(t, []string{`level=WARN msg="quota store recovered" failed_calls=3`}, out.lines())
}

// At info level the observer logs no refusal.
func TestLogObserverInfoLevel(t *testing.T) {
	out := &syncBuffer{}
	f := newFixture(t, Config{Observer: LogObserver(slog.New(slog.NewTextHandler(out, nil)))}, nil)
	require.Equal(t, 403, f.do(t, "GET", "/release/orders", loneKey, testSecret, nil).status)
	require.Empty(t, out.lines())
}

// LogObserver(nil) logs to slog.Default, as a nil logger means
// elsewhere in the package, instead of panicking on a refusal.
func TestLogObserverNilLogger(t *testing.T) {
	out := &syncBuffer{}
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f := newFixture(t, Config{Observer: LogObserver(nil)}, nil)
	require.Equal(t, 403, f.do(t, "GET", "/release/orders", loneKey, testSecret, nil).status)
	require.Len(t, out.lines(), 1)
}
