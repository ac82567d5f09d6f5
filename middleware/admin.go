package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// LimiterUsage reports a limiter's consumed quota to the Describe queries,
// for the period containing now() (nil: time.Now). The value is also a
// usageplan.UsageResetter; New registers one with its registry, so that
// deleting a key forgets its usage. snap returns the registry's current
// snapshot. The value is safe for concurrent use if snap and now are
// (Registry.Snapshot is).
func LimiterUsage(lim *limiter.Limiter, snap func() *usageplan.Snapshot, now func() time.Time) usageplan.Usage {
	if now == nil {
		now = time.Now
	}
	return limiterUsage{lim: lim, snap: snap, now: now}
}

type limiterUsage struct {
	lim  *limiter.Limiter
	snap func() *usageplan.Snapshot
	now  func() time.Time
}

func (u limiterUsage) PlanUsage(ctx context.Context, p usageplan.Plan) (map[string]int64, int64, error) {
	return u.lim.PlanUsage(ctx, p.ID, limitsOf(u.snap(), &p), u.now())
}

// SharedUsage implements usageplan.SharedUsageResetter: usage on a
// shared store (Redis) is the fleet's, so a managed registry forgets it
// only for the deletions it makes.
func (u limiterUsage) SharedUsage() bool { return u.lim.Shared() }

// ResetKeyUsage implements usageplan.UsageResetter: it forgets the quota
// key consumed under each plan of snap in the current period (a deleted
// key's). Counters already at zero are left alone, so that a store does
// not gain an entry per plan for every deletion.
func (u limiterUsage) ResetKeyUsage(ctx context.Context, snap *usageplan.Snapshot, key string) error {
	now := u.now()
	for p := range snap.AllPlans() {
		lim := limitsOf(snap, &p)
		used, err := u.lim.Usage(ctx, p.ID, key, lim, now)
		if err != nil {
			return err
		}
		if used > 0 {
			if err := u.lim.ResetUsage(ctx, p.ID, key, lim, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitsOf converts a plan's limits for the limiter (without its
// throttles, which apply per API: see throttleOf).
func limitsOf(snap *usageplan.Snapshot, p *usageplan.Plan) limiter.Limits {
	loc, _ := snap.PlanLocation(p.ID)
	lim := limiter.Limits{QPS: p.QPS, Burst: p.Burst, Quota: p.Quota, Period: p.QuotaPeriod, Location: loc, DryRun: p.DryRun, Alerts: p.Alerts}
	for _, w := range p.Limits {
		lim.Windows = append(lim.Windows, limiter.Window{Name: w.Name, Requests: w.Requests, Per: w.Per})
	}
	return lim
}

// throttleOf converts a plan's throttle for the limiter.
func throttleOf(th usageplan.Throttle) limiter.Throttle {
	return limiter.Throttle{QPS: th.QPS, Burst: th.Burst}
}

// PlanLimits returns the limits the middleware passes to the limiter for
// a request of plan planID on API api in snap: the plan's QPS, burst,
// windows, quota, period, time zone and dry run, and the API's throttle
// when the plan has one. It serves code that calls a limiter.Limiter
// itself (a gRPC interceptor, a test). ok is false when snap has no
// such plan. Config.DryRun is not included: it belongs to a Middleware.
func PlanLimits(snap *usageplan.Snapshot, planID, api string) (lim limiter.Limits, ok bool) {
	p, ok := snap.Plan(planID)
	if !ok {
		return limiter.Limits{}, false
	}
	lim = limitsOf(snap, &p)
	if th, ok := p.Throttles[api]; ok {
		lim.Throttle = throttleOf(th)
	}
	return lim, true
}

// AdminConfig holds NewAdmin's settings.
type AdminConfig struct {
	// Hosts are the Host header values accepted, compared ignoring case;
	// a request with any other Host is refused (421), which defeats DNS
	// rebinding: a page on a name the attacker controls that resolves to
	// the listener sends that name as Host. Required;
	// cloudapi.LoopbackHosts builds the usual list from the listener's
	// address (the admin API of package cloudapi follows the same rule).
	Hosts []string
	// Logger receives the causes of failures (a store error may name
	// the store's address, so a body says only which call failed); nil
	// means slog.Default().
	Logger *slog.Logger
}

// NewAdmin returns an http.Handler that serves the Describe queries as
// JSON, one path per query, parameters as on the old gateway:
//
//	GET /DescribeApiUsagePlan?ServiceId=…&SearchEnvironment=…&ApiIds=…&ApiIds=…&Offset=…&Limit=…
//	GET /DescribeServiceUsagePlan?ServiceId=…
//	GET /DescribeUsagePlan?UsagePlanId=…
//	GET /DescribeUsagePlanEnvironments?UsagePlanId=…&BindType=SERVICE|API
//	GET /DescribeUsagePlanSecretIds?UsagePlanId=…
//	GET /DescribeApiKeysStatus
//
// Answers use the old gateway's envelope, {"Response": {"Result": …}};
// errors are {"Response": {"Error": {"Code": …, "Message": …}}} with
// status 400 (bad parameters), 404 (unknown query), 405, 421 (a Host not
// in cfg.Hosts) or 503 (the quota store failed; the cause goes to the
// log, never to the body). It never returns secrets. It is meant for a
// loopback listener: it has no authentication of its own. It is safe
// for concurrent use.
func NewAdmin(reg *usageplan.Registry, usage usageplan.Usage, cfg AdminConfig) (http.Handler, error) {
	if reg == nil {
		return nil, errors.New("middleware: NewAdmin needs a Registry")
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("middleware: AdminConfig.Hosts is required (see cloudapi.LoopbackHosts)")
	}
	hosts := make(map[string]bool, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		if h == "" {
			return nil, errors.New("middleware: AdminConfig.Hosts lists an empty host")
		}
		hosts[strings.ToLower(h)] = true
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	mux := http.NewServeMux()
	handle := func(name string, fn func(ctx context.Context, d usageplan.Describer, q *query) (any, error)) {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				writeAdminError(w, http.StatusMethodNotAllowed, "UnsupportedOperation", "use GET")
				return
			}
			q := query{r.URL.Query(), nil}
			d := usageplan.Describer{Snapshot: reg.Snapshot(), Usage: usage}
			result, err := fn(r.Context(), d, &q)
			if err == nil {
				err = q.err
			}
			switch {
			case errors.Is(err, usageplan.ErrInvalidParameter):
				writeAdminError(w, http.StatusBadRequest, "InvalidParameter", err.Error())
			case err != nil:
				logger.Warn("admin: usage store failed", "query", name, "err", err)
				writeAdminError(w, http.StatusServiceUnavailable, "InternalError", MessageStoreFailed)
			default:
				writeAdminJSON(w, http.StatusOK, map[string]any{"Result": result})
			}
		})
	}
	handle("DescribeApiUsagePlan", func(ctx context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.ApiUsagePlan(ctx, usageplan.ApiUsagePlanQuery{
			ServiceId: q.Get("ServiceId"), SearchEnvironment: q.Get("SearchEnvironment"),
			ApiIds: q.list("ApiIds"), Page: q.page(),
		})
	})
	handle("DescribeServiceUsagePlan", func(ctx context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.ServiceUsagePlan(ctx, q.Get("ServiceId"), q.page())
	})
	handle("DescribeUsagePlan", func(ctx context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.UsagePlan(ctx, q.Get("UsagePlanId"))
	})
	handle("DescribeUsagePlanEnvironments", func(ctx context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.UsagePlanEnvironments(ctx, q.Get("UsagePlanId"), q.Get("BindType"), q.page())
	})
	handle("DescribeUsagePlanSecretIds", func(ctx context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.UsagePlanSecretIds(ctx, q.Get("UsagePlanId"), q.page())
	})
	handle("DescribeApiKeysStatus", func(_ context.Context, d usageplan.Describer, q *query) (any, error) {
		return d.ApiKeysStatus(q.page())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, http.StatusNotFound, "UnsupportedOperation", "no query "+strings.TrimPrefix(r.URL.Path, "/"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts[strings.ToLower(r.Host)] {
			writeAdminError(w, http.StatusMisdirectedRequest, "UnauthorizedOperation", "the Host header does not name this admin listener")
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// query reads parameters, remembering the first malformed one.
type query struct {
	values map[string][]string
	err    error
}

func (q query) Get(name string) string {
	if v := q.values[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// list accepts ApiIds=a&ApiIds=b, ApiIds=a,b and the old ApiIds.N=a forms.
func (q query) list(name string) []string {
	var out []string
	for k, vs := range q.values {
		if k != name && !strings.HasPrefix(k, name+".") {
			continue
		}
		for _, v := range vs {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// page reads Offset and Limit. An absent or empty one is the default
// (the old gateway's own examples send "Offset=&Limit="); a Limit given
// must be 1–100 (Limit=0 is refused, not defaulted).
func (q *query) page() usageplan.Page {
	var p usageplan.Page
	if v := q.Get("Offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			q.fail("Offset must be an integer")
		}
		p.Offset = n
	}
	if v := q.Get("Limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			q.fail("Limit must be an integer")
		}
		if n == 0 {
			n = -1 // explicit 0 is out of range
		}
		p.Limit = n
	}
	return p
}

func (q *query) fail(msg string) {
	if q.err == nil {
		q.err = fmt.Errorf("%w: %s", usageplan.ErrInvalidParameter, msg)
	}
}

func writeAdminError(w http.ResponseWriter, status int, code, msg string) {
	writeAdminJSON(w, status, map[string]any{"Error": map[string]string{"Code": code, "Message": msg}})
}

func writeAdminJSON(w http.ResponseWriter, status int, response any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"Response": response})
}
