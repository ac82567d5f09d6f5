package planguardtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// Config holds a Kit's settings. JSON or Registry is required; every
// other field's zero value is the documented default.
type Config struct {
	// JSON is a configuration file's content (the format of
	// usageplan.LoadConfig), from which New builds the registry. Keys
	// that name a secretEnv read the process's environment
	// (t.Setenv sets it in a test).
	JSON string
	// Registry is served when JSON is empty: a registry the test built
	// itself. The kit changes it only as the middleware does (deleting a
	// key forgets its usage).
	Registry *usageplan.Registry
	// Clock is the kit's time; nil means a ManualClock at Start. Use
	// SystemClock inside a testing/synctest bubble.
	Clock Clock
	// Start is where the default ManualClock starts; the zero Start
	// means Start().
	Start time.Time
	// Middleware configures the middleware. Its Now is replaced by the
	// Clock's; its Observer, if set, is called for every request after
	// the kit's own.
	Middleware middleware.Config
	// Limiter configures the limiter.
	Limiter limiter.Config
	// Store keeps the quota; nil means a new limiter.MemoryStore. The
	// kit does not close it.
	Store limiter.Store
	// Handler is what the middleware serves; nil means a handler that
	// answers 200 with an empty body. Requests sent at once (Run, Do
	// from several goroutines) reach it at once, so it must then be safe
	// for concurrent use.
	Handler http.Handler
	// Loopback serves the middleware on an httptest.Server on a loopback
	// port and sends every request over TCP through a net/http client,
	// so that a test sees exactly what a client sees, headers that
	// net/http's server adds (Date, Content-Length) included. It cannot
	// be used inside a testing/synctest bubble (no real network there).
	// By default requests are served in process, which is faster and
	// gives the same status, body and middleware headers.
	Loopback bool
}

// Kit is a registry, a limiter and the middleware in front of a handler,
// on a clock the test controls: it sends signed requests, scripted
// traffic (see Traffic) and single requests (Do), through the full
// middleware (Run) or straight to the limiter (RunLimiter), and returns
// what each request got (Result).
//
// The fields are the kit's parts, for a test that needs them: change the
// registry to see a change take effect on the next request, read usage
// from the limiter. Run, RunLimiter, Do and Sign are safe for concurrent
// use, but scripted traffic is meant to be sent from one goroutine: two
// scripts sent at once share the clock and interleave. Close releases
// what the kit holds; the zero Kit is not usable (use New).
type Kit struct {
	Registry   *usageplan.Registry
	Limiter    *limiter.Limiter
	Middleware *middleware.Middleware
	// Handler is the middleware in front of Config.Handler: what a
	// server would serve.
	Handler http.Handler
	Clock   Clock

	cfg     Config
	srv     *httptest.Server // Loopback
	client  *http.Client
	records sync.Map // loopback: record ID → *record
	nextID  atomic.Uint64
	closed  sync.Once
}

// recordHeader carries a loopback request's record ID to the server side
// of the kit, which removes it before the middleware sees the request.
const recordHeader = "Planguardtest-Record"

// record is what the kit learns about one request on the server side.
type record struct {
	observed bool
	reason   middleware.Reason
	dryRun   bool
	caller   middleware.Caller
	decision limiter.Decision
}

type recordKey struct{}

// New builds a kit: the registry from cfg.JSON (every problem of an
// invalid configuration is in the error, each at its JSON path), a
// limiter on cfg.Store, and the middleware in front of cfg.Handler.
func New(cfg Config) (*Kit, error) {
	reg := cfg.Registry
	switch {
	case cfg.JSON != "" && reg != nil:
		return nil, errors.New("planguardtest: Config.JSON and Config.Registry are exclusive")
	case cfg.JSON != "":
		var err error
		if reg, err = usageplan.LoadConfig(strings.NewReader(cfg.JSON), usageplan.RegistryConfig{}); err != nil {
			return nil, fmt.Errorf("planguardtest: %w", err)
		}
	case reg == nil:
		return nil, errors.New("planguardtest: Config.JSON or Config.Registry is required")
	}
	clock := cfg.Clock
	if clock == nil {
		start := cfg.Start
		if start.IsZero() {
			start = Start()
		}
		clock = NewManualClock(start)
	}
	store := cfg.Store
	if store == nil {
		store = &limiter.MemoryStore{}
	}
	lim, err := limiter.New(store, cfg.Limiter)
	if err != nil {
		return nil, fmt.Errorf("planguardtest: %w", err)
	}
	k := &Kit{Registry: reg, Limiter: lim, Clock: clock, cfg: cfg}
	mcfg := cfg.Middleware
	mcfg.Now = clock.Now
	userObserver := mcfg.Observer
	mcfg.Observer = func(ctx context.Context, e *middleware.Event) {
		if rec, ok := ctx.Value(recordKey{}).(*record); ok {
			rec.observed, rec.reason, rec.dryRun, rec.caller, rec.decision = true, e.Reason, e.DryRun, *e.Caller, e.Decision
		}
		if userObserver != nil {
			userObserver(ctx, e)
		}
	}
	m, err := middleware.New(reg, lim, mcfg)
	if err != nil {
		lim.Close(context.Background())
		return nil, fmt.Errorf("planguardtest: %w", err)
	}
	next := cfg.Handler
	if next == nil {
		next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	}
	k.Middleware, k.Handler = m, m.Wrap(next)
	if cfg.Loopback {
		k.srv = httptest.NewServer(http.HandlerFunc(k.serveLoopback))
		k.client = &http.Client{
			Timeout: time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // the kit reports what the middleware answered
			},
		}
	}
	return k, nil
}

// Close closes the loopback server and the limiter (which returns unused
// quota leases to the store). It is idempotent.
func (k *Kit) Close() error {
	var err error
	k.closed.Do(func() {
		if k.srv != nil {
			k.srv.Close()
		}
		err = k.Limiter.Close(context.Background())
	})
	return err
}

// serveLoopback is the loopback server's handler: it attaches the
// request's record and serves it through the middleware.
func (k *Kit) serveLoopback(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get(recordHeader); id != "" {
		r.Header.Del(recordHeader)
		if rec, ok := k.records.Load(id); ok {
			r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
		}
	}
	k.Handler.ServeHTTP(w, r)
}

// Signer returns a signer for the key keyID as the registry holds it
// now: its ID and secret, the other settings planguard's defaults
// (hmac-sha1; X-Date and X-Nonce signed). ok is false when the registry
// has no such key.
func (k *Kit) Signer(keyID string) (s *keys.Signer, ok bool) {
	key, ok := k.Registry.Snapshot().Key(keyID)
	if !ok {
		return nil, false
	}
	return &keys.Signer{ID: key.ID, Secret: key.Secret}, true
}

// Sign signs r with the key keyID at the kit's clock. It fails when the
// registry has no such key (sign with a keys.Signer of your own to send
// an unknown key or a wrong secret).
func (k *Kit) Sign(r *http.Request, keyID string) error {
	s, ok := k.Signer(keyID)
	if !ok {
		return fmt.Errorf("planguardtest: the registry has no key %q", keyID)
	}
	return s.SignAt(r, k.Clock.Now())
}

// Do serves r through the middleware at the kit's clock, as a client
// would send it (sign it first, with Sign), and returns what the client
// got. Its Step is 0.
func (k *Kit) Do(r *http.Request) Response {
	return k.do(r, 0)
}

func (k *Kit) do(r *http.Request, step int) Response {
	rec := &record{}
	resp := Response{Step: step, At: k.Clock.Now()}
	if k.srv != nil {
		k.doLoopback(r, rec, &resp)
	} else {
		w := httptest.NewRecorder()
		k.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
		resp.Status, resp.Body = w.Code, w.Body.Bytes()
		resp.Header = canonical(w.Header())
	}
	if len(resp.Body) == 0 {
		resp.Body = nil // the same in process and over loopback
	}
	resp.Observed, resp.Reason, resp.DryRun = rec.observed, rec.reason, rec.dryRun
	resp.Caller, resp.Decision = rec.caller, rec.decision
	return resp
}

// doLoopback sends r to the loopback server.
func (k *Kit) doLoopback(r *http.Request, rec *record, resp *Response) {
	id := strconv.FormatUint(k.nextID.Add(1), 10)
	k.records.Store(id, rec)
	defer k.records.Delete(id)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", k.srv.Listener.Addr().String()
	out.Host = out.URL.Host
	out.Header.Set(recordHeader, id)
	got, err := k.client.Do(out)
	if err != nil {
		resp.Err = err
		return
	}
	defer got.Body.Close()
	resp.Status, resp.Header = got.StatusCode, got.Header
	resp.Body, resp.Err = io.ReadAll(got.Body)
}

// canonical returns h with canonical names, as a client reads them off
// the wire: the middleware writes some under their exact spelling
// (X-UsagePlan-Quota), which net/http's client canonicalises
// (X-Usageplan-Quota); Header.Get finds either way.
func canonical(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for name, v := range h {
		c := http.CanonicalHeaderKey(name)
		out[c] = append(out[c], v...)
	}
	return out
}

// Usage returns the quota units key has consumed under plan in the
// period containing the kit's clock, as the limiter counts them
// (middleware.Middleware.UsageAt). It fails when the registry has no
// such plan (an error matching usageplan.ErrNotFound).
func (k *Kit) Usage(planID, keyID string) (int64, error) {
	used, err := k.Middleware.UsageAt(context.Background(), k.Clock.Now(), planID, keyID)
	if err != nil {
		return 0, fmt.Errorf("planguardtest: %w", err)
	}
	return used, nil
}
