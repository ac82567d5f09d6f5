package usageplan

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// model is the registry's whole state in a fixed order: the order of a
// config file when loading one, sorted by ID inside the registry.
type model struct {
	services []Service
	keys     []keys.Key
	plans    []modelPlan
}

// modelPlan is a plan of a model with the keys it binds, as a
// configuration lists them.
type modelPlan struct {
	Plan
	Keys []string
}

func (p modelPlan) ruleView() binding.Plan {
	return binding.Plan{ID: p.ID, Keys: p.Keys, Targets: p.Bindings}
}

// ceilings are the upper bounds of QPS, quota and burst in force.
type ceilings struct {
	qps, quota, burst int64
}

// checked is what validation learns on the way and compilation reuses.
type checked struct {
	routes map[string]*route.Table[apiRef] // per environment
	locs   []*time.Location                // per plan
}

// validate checks every rule of the domain model and the bindings over m and reports every
// problem. skip lists paths already reported by the config decoder, so a
// value is not reported twice.
func validate(m *model, lim ceilings, skip map[string]bool) ([]Problem, *checked) {
	return validateRules(m, lim, skip, true)
}

// validateRules is validate; without keyRules, the exclusivity rule is
// checked without the plans' keys (duplicate and mixed-scope bindings
// only), which the changes that apply a config check for what they touch.
func validateRules(m *model, lim ceilings, skip map[string]bool, keyRules bool) ([]Problem, *checked) {
	ps := &problems{}
	c := &checked{}
	serviceIdx := map[string]int{}
	apiOwner := map[string]string{}
	routes := newRouteBuilder()
	for i, s := range m.services {
		path := index("services", i)
		validateService(ps, path, s, serviceIdx, apiOwner)
		if _, dup := serviceIdx[s.ID]; !dup {
			serviceIdx[s.ID] = i
		}
		routes.add(ps, &m.services[i], i)
	}
	c.routes = routes.tables

	keyIdx := map[string]int{}
	for i, k := range m.keys {
		path := index("keys", i)
		if _, dup := keyIdx[k.ID]; dup {
			ps.field(path, "id", "duplicates "+k.ID)
		} else {
			keyIdx[k.ID] = i
		}
		validateKey(ps, path, k)
	}

	planIdx := map[string]int{}
	var rules []binding.Plan
	for i, p := range m.plans {
		path := index("plans", i)
		if _, dup := planIdx[p.ID]; dup {
			ps.field(path, "id", "duplicates "+p.ID)
		} else {
			planIdx[p.ID] = i
			rule := p.ruleView()
			if !keyRules {
				rule.Keys = nil
			}
			rules = append(rules, rule)
		}
		c.locs = append(c.locs, validatePlan(ps, path, p.Plan, lim))
		for j, k := range p.Keys {
			if _, ok := keyIdx[k]; !ok {
				ps.add(index(path+".keys", j), fmt.Errorf("no key %s: %w", k, ErrNotFound))
			}
		}
		for j, t := range p.Bindings {
			bpath := index(path+".bindings", j)
			si, ok := serviceIdx[t.Service]
			if !ok {
				ps.add(bpath, fmt.Errorf("no service %s: %w", t.Service, ErrNotFound))
				continue
			}
			s := m.services[si]
			if !s.HasEnvironment(t.Environment) {
				ps.add(bpath, fmt.Errorf("service %s is not published to environment %q: %w", s.ID, t.Environment, ErrNotFound))
			}
			for k, a := range t.APIs {
				if _, ok := s.API(a); !ok {
					ps.add(index(bpath+".apis", k), fmt.Errorf("service %s has no API %s: %w", s.ID, a, ErrNotFound))
				}
			}
		}
		for _, api := range slices.Sorted(maps.Keys(p.Throttles)) {
			if !bindsAPI(m, p.Plan, api) {
				ps.add(path+".throttles."+api, fmt.Errorf("the plan binds no API %s: a throttle applies to an API the plan binds", api))
			}
		}
	}

	for _, err := range binding.Check(rules) {
		ps.add(bindingPath(err, planIdx), err)
	}

	out := ps.list[:0]
	for _, p := range ps.list {
		if !skip[p.Path] {
			out = append(out, p)
		}
	}
	return out, c
}

// bindsAPI reports whether p binds api: a service-wide binding binds
// every API of its service, an API-scoped one the APIs it lists.
func bindsAPI(m *model, p Plan, api string) bool {
	for _, t := range p.Bindings {
		if len(t.APIs) > 0 {
			if slices.Contains(t.APIs, api) {
				return true
			}
			continue
		}
		for _, s := range m.services {
			if s.ID == t.Service {
				if _, ok := s.API(api); ok {
					return true
				}
			}
		}
	}
	return false
}

func bindingPath(err error, planIdx map[string]int) string {
	var (
		dup   *binding.DuplicateError
		mixed *binding.MixedScopeError
		cf    *binding.Conflict
	)
	switch {
	case errors.As(err, &dup):
		p := index("plans", planIdx[dup.Plan])
		switch dup.What {
		case "key":
			return index(p+".keys", dup.Key)
		case "api":
			return index(index(p+".bindings", dup.Target)+".apis", dup.API)
		}
		return index(p+".bindings", dup.Target)
	case errors.As(err, &mixed):
		return index(index("plans", planIdx[mixed.Plan])+".bindings", mixed.Target)
	case errors.As(err, &cf):
		return index(index("plans", planIdx[cf.Plan])+".bindings", cf.Target)
	}
	return "plans"
}

func validateService(ps *problems, path string, s Service, seen map[string]int, apiOwner map[string]string) {
	if !validID(ServicePrefix, s.ID) {
		ps.field(path, "id", "must be "+ServicePrefix+" followed by 8 of [a-z0-9]")
	} else if _, dup := seen[s.ID]; dup {
		ps.field(path, "id", "duplicates "+s.ID)
	}
	if r := nameReason(s.Name); r != "" {
		ps.field(path, "name", r)
	}
	envs := map[string]bool{}
	for i, e := range s.Environments {
		epath := index(path+".environments", i)
		if r := envReason(e); r != "" {
			ps.add(epath, errors.New(r))
		} else if envs[e] {
			ps.add(epath, fmt.Errorf("environment %q listed twice", e))
		}
		envs[e] = true
	}
	for i, a := range s.APIs {
		apath := index(path+".apis", i)
		if !validID(APIPrefix, a.ID) {
			ps.field(apath, "id", "must be "+APIPrefix+" followed by 8 of [a-z0-9]")
		} else if owner, dup := apiOwner[a.ID]; dup {
			ps.field(apath, "id", "duplicates "+a.ID+" of "+owner)
		} else {
			apiOwner[a.ID] = s.ID
		}
		if r := nameReason(a.Name); r != "" {
			ps.field(apath, "name", r)
		}
		switch a.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
			http.MethodPatch, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect, MethodAny:
		default:
			ps.field(apath, "method", "must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, TRACE, CONNECT, ANY")
		}
		if r := pathReason(a.Path); r != "" {
			ps.field(apath, "path", r)
		}
		if a.Auth != AuthSecret && a.Auth != AuthNone {
			ps.field(apath, "auth", `must be "SECRET" or "NONE"`)
		}
		if a.Cost < 0 || a.Cost > MaxCost {
			ps.field(apath, "cost", "must be 1 to 1000000")
		}
	}
}

func pathReason(p string) string {
	if !strings.HasPrefix(p, "/") {
		return `must start with "/"`
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] == 0x7f {
			return "must not contain spaces or control characters"
		}
	}
	return ""
}

func validateKey(ps *problems, path string, k keys.Key) {
	for _, err := range []error{keys.ValidateID(k.ID), keys.ValidateName(k.Name), keys.ValidateSecret(k.Secret)} {
		var fe *keys.FieldError
		if errors.As(err, &fe) {
			ps.add(join(path, fe.Field), err)
		}
	}
}

func validatePlan(ps *problems, path string, p Plan, lim ceilings) *time.Location {
	if !validID(PlanPrefix, p.ID) {
		ps.field(path, "id", "must be "+PlanPrefix+" followed by 8 of [a-z0-9]")
	}
	if r := nameReason(p.Name); r != "" {
		ps.field(path, "name", r)
	}
	if n := utf8.RuneCountInString(p.Description); n > MaxDescLen || !utf8.ValidString(p.Description) {
		ps.field(path, "description", fmt.Sprintf("must be valid UTF-8 of at most %d characters", MaxDescLen))
	}
	if r := limitReason(p.QPS, lim.qps); r != "" {
		ps.field(path, "qps", r)
	}
	if r := limitReason(p.Quota, lim.quota); r != "" {
		ps.field(path, "quota", r)
	}
	switch {
	case p.Burst == 0:
	case p.QPS == limiter.Unlimited:
		ps.field(path, "burst", "needs a limited qps")
	case p.Burst < 1 || p.Burst > lim.burst:
		ps.field(path, "burst", fmt.Sprintf("must be 1–%d, got %d", lim.burst, p.Burst))
	}
	if len(p.Limits) > MaxWindows {
		ps.field(path, "limits", fmt.Sprintf("at most %d windows, got %d", MaxWindows, len(p.Limits)))
	}
	names := map[string]bool{}
	for i, w := range p.Limits {
		wpath := index(path+".limits", i)
		switch r := nameReason(w.Name); {
		case r != "":
			ps.field(wpath, "name", r)
		case w.Name == "qps" || w.Name == "quota" || w.Name == "throttle":
			ps.field(wpath, "name", fmt.Sprintf("%q names another policy", w.Name))
		case names[w.Name]:
			ps.field(wpath, "name", "duplicates "+w.Name)
		}
		names[w.Name] = true
		if w.Requests < 1 || w.Requests > lim.quota {
			ps.field(wpath, "requests", fmt.Sprintf("must be 1–%d, got %d", lim.quota, w.Requests))
		}
		if w.Per < MinWindowPer || w.Per > MaxWindowPer || w.Per%time.Second != 0 {
			ps.field(wpath, "per", fmt.Sprintf("must be whole seconds from %v to %v, got %v", MinWindowPer, MaxWindowPer, w.Per))
		}
	}
	for _, api := range slices.Sorted(maps.Keys(p.Throttles)) {
		th := p.Throttles[api]
		tpath := path + ".throttles." + api
		if th.QPS < 1 || th.QPS > lim.qps {
			ps.field(tpath, "qps", fmt.Sprintf("must be 1–%d, got %d", lim.qps, th.QPS))
		}
		if th.Burst != 0 && (th.Burst < 1 || th.Burst > lim.burst) {
			ps.field(tpath, "burst", fmt.Sprintf("must be 1–%d, got %d", lim.burst, th.Burst))
		}
	}
	validateAlerts(ps, path, &p)
	if p.QuotaPeriod > limiter.Month {
		ps.field(path, "quotaPeriod", fmt.Sprintf("must be limiter.Total, Day, Week or Month, got Period(%d)", p.QuotaPeriod))
	}
	loc, err := timeZone(p.TimeZone)
	if err != nil {
		ps.add(join(path, "timeZone"), err)
		loc = time.UTC
	}
	return loc
}

func limitReason(v, ceiling int64) string {
	if v == limiter.Unlimited || (v >= 1 && v <= ceiling) {
		return ""
	}
	return fmt.Sprintf("must be %d (unlimited) or 1–%d, got %d", limiter.Unlimited, ceiling, v)
}

func nameReason(s string) string {
	if len(s) < 1 || len(s) > MaxNameLen {
		return fmt.Sprintf("must be 1–%d characters long", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "may contain only letters, digits and '_'"
		}
	}
	return ""
}

func envReason(s string) string {
	if len(s) < 1 || len(s) > MaxNameLen {
		return fmt.Sprintf("environment must be 1–%d characters long", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Sprintf("environment %q may contain only [a-z0-9_-]", s)
		}
	}
	return ""
}

// validateAlerts checks a plan's alert thresholds: at most MaxAlerts,
// each a percentage from 1 to 100 given once, with a limited quota.
func validateAlerts(ps *problems, path string, p *Plan) {
	if len(p.Alerts) == 0 {
		return
	}
	if p.Quota == limiter.Unlimited {
		ps.field(path, "alerts", "need a limited quota")
	}
	if len(p.Alerts) > MaxAlerts {
		ps.field(path, "alerts", fmt.Sprintf("at most %d thresholds, got %d", MaxAlerts, len(p.Alerts)))
	}
	seen := map[int]bool{}
	for i, a := range p.Alerts {
		field := "alerts[" + strconv.Itoa(i) + "]"
		switch {
		case a < 1 || a > 100:
			ps.field(path, field, fmt.Sprintf("must be a percentage from 1 to 100, got %d", a))
		case seen[a]:
			ps.field(path, field, fmt.Sprintf("duplicates %d", a))
		}
		seen[a] = true
	}
}
