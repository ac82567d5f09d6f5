package middleware

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// seen is what a test observer copies out of an Event.
type seen struct {
	reason                   Reason
	auth                     keys.Reason
	service, env, api, plan  string
	key                      string
	storeCalled, storeFailed bool
	revision                 uint64
}

type recorder struct {
	mu     sync.Mutex
	events []seen
	dumps  []string // every Event and Caller printed, to look for secrets
}

func (rec *recorder) observe(_ context.Context, e *Event) {
	s := seen{reason: e.Reason, auth: e.AuthReason, service: e.Caller.Service, env: e.Caller.Environment,
		key: e.Caller.SecretID, storeCalled: e.StoreCalled, storeFailed: e.StoreErr != nil, revision: e.Revision}
	if e.Caller.API != nil {
		s.api = e.Caller.API.ID
	}
	if e.Caller.Plan != nil {
		s.plan = e.Caller.Plan.ID
	}
	dump := fmt.Sprintf("%+v %+v", *e, *e.Caller)
	if e.Caller.Plan != nil {
		dump += fmt.Sprintf(" %+v", *e.Caller.Plan)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, s)
	rec.dumps = append(rec.dumps, dump)
}

func (rec *recorder) take() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.events
	rec.events = nil
	return out
}

// TestObserverSeesEveryOutcome sends one request of each outcome over
// real HTTP and checks the observer was called exactly once for each,
// with what was established, and never with the secret or the signature.
func TestObserverSeesEveryOutcome(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, Config{Observer: rec.observe}, nil)
	rev := f.reg.Snapshot().Version()
	const svc = "service-abcd1234"
	var authHeaders []string
	keepAuth := func(r *http.Request) { authHeaders = append(authHeaders, r.Header.Get("Authorization")) }

	cases := []struct {
		name, method, path, id, secret string
		edit                           func(*http.Request)
		status                         int
		want                           seen
	}{
		{"admitted", "GET", "/release/orders/42", goldKey, goldSecret, keepAuth, 200,
			seen{reason: Admitted, service: svc, env: "release", api: "api-get00001", plan: "usagePlan-gold0001", key: goldKey, storeCalled: true}},
		{"auth none", "GET", "/release/health", "", "", nil, 200,
			seen{reason: Admitted, service: svc, env: "release", api: "api-hlth0001"}},
		{"no api", "GET", "/release/nope", goldKey, goldSecret, nil, 404,
			seen{reason: RefusedNoAPI, env: "release"}},
		{"unknown environment", "GET", "/whatever/orders", goldKey, goldSecret, nil, 404,
			seen{reason: RefusedNoAPI}},
		{"no authorization", "GET", "/release/orders", "", "", nil, 401,
			seen{reason: RefusedAuth, auth: keys.ReasonNoAuthorization, service: svc, env: "release", api: "api-list0001"}},
		{"wrong secret", "GET", "/release/orders", goldKey, "not-the-secret", nil, 401,
			seen{reason: RefusedAuth, auth: keys.ReasonSignatureMismatch, service: svc, env: "release", api: "api-list0001"}},
		{"disabled key", "GET", "/release/orders", offKey, testSecret, nil, 401,
			seen{reason: RefusedAuth, auth: keys.ReasonUnknownKey, service: svc, env: "release", api: "api-list0001"}},
		{"no plan", "GET", "/release/orders", loneKey, testSecret, nil, 403,
			seen{reason: RefusedNoPlan, service: svc, env: "release", api: "api-list0001"}},
		{"qps 1", "GET", "/test/orders", goldKey, goldSecret, keepAuth, 200,
			seen{reason: Admitted, service: svc, env: "test", api: "api-list0001", plan: "usagePlan-slow0001", key: goldKey, storeCalled: true}},
		{"qps 2", "GET", "/test/orders", goldKey, goldSecret, keepAuth, 429,
			seen{reason: RefusedQPS, service: svc, env: "test", api: "api-list0001", plan: "usagePlan-slow0001", key: goldKey, storeCalled: true}},
	}
	for _, c := range cases {
		rep := f.do(t, c.method, c.path, c.id, c.secret, c.edit)
		require.Equal(t, c.status, rep.status, c.name)
		c.want.revision = rev
		require.Equal(t, []seen{c.want}, rec.take(), c.name)
	}
	// The gold plan's quota is 100 a day: 99 more are admitted (the
	// first case took one), the next is refused for quota.
	for range 99 {
		require.Equal(t, 200, f.do(t, "GET", "/release/orders/1", goldKey, goldSecret, nil).status)
	}
	require.Len(t, rec.take(), 99)
	require.Equal(t, 429, f.do(t, "GET", "/release/orders/1", goldKey, goldSecret, nil).status)
	require.Equal(t, []seen{{reason: RefusedQuota, service: svc, env: "release", api: "api-get00001",
		plan: "usagePlan-gold0001", key: goldKey, storeCalled: true, revision: rev}}, rec.take())

	require.NotEmpty(t, authHeaders)
	for _, d := range rec.dumps {
		require.NotContains(t, d, goldSecret)
		require.NotContains(t, d, testSecret)
		for _, h := range authHeaders {
			sig := h[strings.LastIndex(h, "signature=")+len("signature="):]
			require.NotContains(t, d, strings.Trim(sig, `"`))
		}
	}
}

// The store's failure reaches the observer as RefusedStore with the
// error, or, with FailOpen, as Admitted with the error.
func TestObserverSeesStoreFailure(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		rec := &recorder{}
		f := newFixture(t, Config{Observer: rec.observe, FailOpen: failOpen}, &failingStore{})
		rep := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
		want := seen{reason: RefusedStore, service: "service-abcd1234", env: "release", api: "api-list0001",
			plan: "usagePlan-gold0001", key: goldKey, storeCalled: true, storeFailed: true, revision: f.reg.Snapshot().Version()}
		if failOpen {
			require.Equal(t, 200, rep.status)
			want.reason = Admitted
		} else {
			require.Equal(t, 503, rep.status)
		}
		require.Equal(t, []seen{want}, rec.take())
	}
}

// An ErrorHandler tells QPS from quota by Error.Reason, and sees the
// caller and the limiter's decision.
func TestErrorCarriesReasonCallerAndDecision(t *testing.T) {
	var mu sync.Mutex
	var got []string
	handler := func(w http.ResponseWriter, r *http.Request, e *Error) {
		plan := ""
		if e.Caller.Plan != nil {
			plan = e.Caller.Plan.ID
		}
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %s %v", e.Reason, e.Caller.Environment, plan, e.Decision.Refused == limiter.LimitQPS))
		mu.Unlock()
		WriteJSON(w, r, e)
	}
	f := newFixture(t, Config{ErrorHandler: handler}, nil)
	require.Equal(t, 200, f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil).status)
	require.Equal(t, 429, f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil).status)
	require.Equal(t, 403, f.do(t, "GET", "/test/orders", loneKey, testSecret, nil).status)
	require.Equal(t, []string{"qps test usagePlan-slow0001 true", "no_plan test  false"}, got)
}

func TestReasonNames(t *testing.T) {
	names := map[string]bool{}
	for r := Admitted; r <= RefusedStore; r++ {
		names[r.String()] = true
	}
	require.Len(t, names, 7)
	require.NotContains(t, names, "unknown")
	require.Equal(t, "unknown", Reason(200).String())
	for r := keys.ReasonNoAuthorization; r <= keys.ReasonReplayLimit; r++ {
		require.NotEqual(t, "unknown", r.String(), int(r))
	}
}
