package usageplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// Config is the JSON configuration file (docs/configuration.md in the
// repository describes it). Omitted qps and quota mean unlimited, an
// omitted status means enabled, an omitted auth means SECRET, an omitted
// quotaPeriod means total; secret and secretEnv are exclusive; unknown
// fields and repeated member names are errors.
type Config struct {
	Services []ServiceConfig `json:"services"`
	Keys     []KeyConfig     `json:"keys"`
	Plans    []PlanConfig    `json:"plans"`
}

// ServiceConfig is a service in a Config.
type ServiceConfig struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	Environments []string    `json:"environments"`
	APIs         []APIConfig `json:"apis"`
}

// APIConfig is an API in a Config.
type APIConfig struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Auth   string `json:"auth,omitempty"`
	// Cost is the quota units a request takes, 1 to 1,000,000; absent
	// (or 0) means 1.
	Cost *json.Number `json:"cost,omitempty"`
}

// KeyConfig is a key pair in a Config. Exactly one of Secret and SecretEnv
// (the name of an environment variable holding the secret) is set.
type KeyConfig struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Secret    ConfigSecret `json:"secret,omitempty"`
	SecretEnv string       `json:"secretEnv,omitempty"`
	Status    string       `json:"status,omitempty"`
}

// ConfigSecret is a secret_key as a Config holds it: a string that JSON
// encodes and decodes as itself (a config file holds its secrets), and
// that never prints itself otherwise: String, GoString and every fmt
// verb show "[REDACTED]", and so does slog, with any handler, for a
// ConfigSecret, KeyConfig or Config logged as an attribute's value (see
// Config.LogValue). string(s) is its value. Only encoding/json reveals
// it: a Config inside a value of your own that a JSON handler encodes
// holds its secrets.
type ConfigSecret string

const redactedSecret = "[REDACTED]"

func (ConfigSecret) String() string                 { return redactedSecret }
func (ConfigSecret) GoString() string               { return `"` + redactedSecret + `"` }
func (ConfigSecret) Format(f fmt.State, verb rune)  { io.WriteString(f, redactedSecret) }
func (ConfigSecret) LogValue() slog.Value           { return slog.StringValue(redactedSecret) }
func (s ConfigSecret) MarshalJSON() ([]byte, error) { return json.Marshal(string(s)) }

// LogValue is c with its secrets "[REDACTED]", so that slog's JSON
// handler, which encodes a value with encoding/json, shows none.
func (c Config) LogValue() slog.Value {
	r := redactedConfig(c)
	r.Keys = slices.Clone(c.Keys)
	for i := range r.Keys {
		r.Keys[i] = r.Keys[i].redacted()
	}
	return slog.AnyValue(r)
}

// LogValue is k with its secret "[REDACTED]" (see Config.LogValue).
func (k KeyConfig) LogValue() slog.Value { return slog.AnyValue(redactedKey(k.redacted())) }

func (k KeyConfig) redacted() KeyConfig {
	if k.Secret != "" {
		k.Secret = redactedSecret
	}
	return k
}

// redactedConfig and redactedKey are Config and KeyConfig without
// LogValue, for the values LogValue returns.
type (
	redactedConfig Config
	redactedKey    KeyConfig
)

// PlanConfig is a usage plan in a Config.
type PlanConfig struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	QPS         *json.Number    `json:"qps,omitempty"`
	Quota       *json.Number    `json:"quota,omitempty"`
	QuotaPeriod string          `json:"quotaPeriod,omitempty"`
	TimeZone    string          `json:"timeZone,omitempty"`
	Keys        []string        `json:"keys,omitempty"`
	Bindings    []BindingConfig `json:"bindings,omitempty"`
	// Burst is the size of each key's QPS bucket; omitted means qps.
	Burst *json.Number `json:"burst,omitempty"`
	// Limits are more windows per key.
	Limits []WindowConfig `json:"limits,omitempty"`
	// Throttles are per-API buckets, by API ID.
	Throttles map[string]ThrottleConfig `json:"throttles,omitempty"`
	// Enforce false makes the plan a dry run; omitted means true.
	Enforce *bool `json:"enforce,omitempty"`
	// Alerts are percentages of the quota (1 to 100) at which a key's
	// consumption in a period is reported, once each.
	Alerts []json.Number `json:"alerts,omitempty"`
}

// WindowConfig is a window of a plan in a Config: requests per per, per
// being "second", "minute", "hour", "day" or a Go duration from "1s" to
// "24h".
type WindowConfig struct {
	Name     string       `json:"name"`
	Requests *json.Number `json:"requests"`
	Per      string       `json:"per"`
}

// ThrottleConfig is a per-API throttle of a plan in a Config; an omitted
// burst means qps.
type ThrottleConfig struct {
	QPS   *json.Number `json:"qps"`
	Burst *json.Number `json:"burst,omitempty"`
}

// BindingConfig binds a plan to a service environment: service-wide
// without apis, API-scoped with a non-empty apis list.
type BindingConfig struct {
	Service     string   `json:"service"`
	Environment string   `json:"environment"`
	APIs        []string `json:"apis,omitempty"`
}

// LoadConfig reads a JSON config from r and returns a registry holding it.
// Every problem is reported at once, each with its JSON path, in a
// *ValidationError.
func LoadConfig(r io.Reader, cfg RegistryConfig) (*Registry, error) {
	reg := NewRegistry(cfg)
	if err := reg.Load(r); err != nil {
		return nil, err
	}
	return reg, nil
}

// Load makes the registry hold the config read from r: it applies the
// difference between the two as one revision of typed changes
// (atomically: on any problem the registry is unchanged), and nothing
// when the config holds what the registry holds. Entities whose ID
// existed before keep their creation time, and their modification time
// if they did not change; keys that stay keep their consumed quota.
func (r *Registry) Load(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return fmt.Errorf("usageplan: reading config: %w", err)
	}
	cfg, ps := decodeConfig(data)
	if cfg == nil {
		return ps.err()
	}
	return r.ApplyConfig(cfg, ps.list...)
}

// ApplyConfig makes the registry hold cfg, as Load does. extra problems
// (from decoding) are reported along with cfg's own.
func (r *Registry) ApplyConfig(cfg *Config, extra ...Problem) error {
	_, err := r.ApplyConfigContext(context.Background(), cfg, extra...)
	return err
}

// ApplyConfigContext is ApplyConfig with a context, returning the
// revision the registry is at afterwards: a new one holding every
// difference between the registry and cfg as typed changes (see Diff),
// or the current one when cfg holds what the registry holds.
func (r *Registry) ApplyConfigContext(ctx context.Context, cfg *Config, extra ...Problem) (uint64, error) {
	ps := &problems{list: extra}
	// The registry keeps none of m's slices: the changes made from it
	// copy what they keep.
	m, skip := r.fromConfig(cfg, ps)
	var omitted []string // wrongly typed values, validated as omitted
	for _, p := range ps.list {
		var te *typeError
		if errors.As(p.Err, &te) {
			omitted = append(omitted, p.Path)
		} else if !errors.Is(p.Err, errRepeated) {
			skip[p.Path] = true
		}
	}
	given := len(ps.list)
	check := func(keyRules bool) error {
		ps.list = ps.list[:given]
		list, _ := validateRules(m, r.opts.ceilings(), skip, keyRules)
		for _, p := range list {
			if !under(p.Path, omitted) {
				ps.list = append(ps.list, p)
			}
		}
		return ps.err()
	}
	// The exclusivity rule over the file's keys is checked by the
	// changes that apply it, for what they touch (a reload of an
	// unchanged file touches nothing); over the whole file only to say
	// where a refused file breaks it.
	if check(false) != nil {
		return 0, check(true)
	}
	rev, err := r.commit(ctx, commitAt{}, func(cur *Snapshot) ([]Change, error) { return diff(cur, m), nil })
	if err != nil && (errors.Is(err, ErrConflict) || errors.Is(err, ErrExists)) {
		if perr := check(true); perr != nil {
			return 0, perr
		}
	}
	return rev, err
}

// decodeConfig parses data strictly, in one pass over the document. It
// reports, each with its path and position, a syntax error (and then
// nothing else: the document cannot be read), a top level that is not an
// object, every wrongly typed value, unknown field and repeated member.
// The returned Config holds what is left, so that validation can report
// every other problem too; it is nil only when there is nothing to
// validate.
func decodeConfig(data []byte) (*Config, *problems) {
	if cfg := decodeFast(data); cfg != nil {
		return cfg, &problems{}
	}
	return decodeSlow(data)
}

// decodeSlow is decodeConfig without the fast path.
func decodeSlow(data []byte) (*Config, *problems) {
	ps := &problems{}
	doc, err := parseDocument(data)
	if err != nil {
		var se *syntaxError
		errors.As(err, &se)
		ps.at(data, se.off, "", fmt.Errorf("invalid JSON: %s", se.msg))
		return nil, ps
	}
	if doc.kind != "object" {
		ps.at(data, doc.off, "", &typeError{want: "object", got: doc.kind})
		return nil, ps
	}
	clean, err := json.Marshal(checkShape(ps, data, "", doc, shapeOf[Config]()))
	if err != nil { // a tree of maps, slices, strings and checked numbers
		panic("usageplan: re-encoding a parsed config: " + err.Error())
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil { // checkShape let only fitting values through
		panic("usageplan: decoding a checked config: " + err.Error())
	}
	return &cfg, ps
}

// fromConfig converts cfg to a model in file order, reporting what only a
// config can get wrong. It returns the paths it reported so validation
// does not report them again.
func (r *Registry) fromConfig(cfg *Config, ps *problems) (*model, map[string]bool) {
	m := &model{}
	skip := map[string]bool{}
	bursts := fmt.Sprintf("1–%d", r.opts.ceilings().burst)
	for i, sc := range cfg.Services {
		s := Service{ID: sc.ID, Name: sc.Name, Environments: orNil(sc.Environments)}
		for j, ac := range sc.APIs {
			cpath := index(index("services", i)+".apis", j) + ".cost"
			cost := explicitCount(ps, cpath, ac.Cost, fmt.Sprintf("1 to %d", MaxCost))
			s.APIs = append(s.APIs, API{ID: ac.ID, Name: ac.Name, Method: ac.Method, Path: ac.Path, Auth: Auth(orDefault(ac.Auth, string(AuthSecret))), Cost: cost})
		}
		m.services = append(m.services, s)
	}
	lookupEnv := r.opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	for i, kc := range cfg.Keys {
		path := index("keys", i)
		k := keys.Key{ID: kc.ID, Name: kc.Name, SecretEnv: kc.SecretEnv}
		status, err := keys.ParseStatus(kc.Status)
		if err != nil {
			ps.add(path+".status", err)
		}
		k.Status = status
		switch {
		case kc.Secret != "" && kc.SecretEnv != "":
			ps.add(path, errors.New("secret and secretEnv are exclusive; set one"))
			skip[path+".secret"] = true
		case kc.Secret == "" && kc.SecretEnv == "":
			ps.add(path, errors.New("one of secret or secretEnv is required"))
			skip[path+".secret"] = true
		case kc.SecretEnv != "":
			v, ok := lookupEnv(kc.SecretEnv)
			if !ok {
				ps.add(path+".secretEnv", fmt.Errorf("environment variable %s is not set", kc.SecretEnv))
				skip[path+".secret"] = true
			} else if keys.ValidateSecret(keys.NewSecret(v)) != nil {
				ps.add(path+".secretEnv", fmt.Errorf("environment variable %s: %w", kc.SecretEnv, keys.ValidateSecret(keys.NewSecret(v))))
				skip[path+".secret"] = true
			}
			k.Secret = keys.NewSecret(v)
		default:
			k.Secret = keys.NewSecret(string(kc.Secret))
		}
		m.keys = append(m.keys, k)
	}
	for i, pc := range cfg.Plans {
		path := index("plans", i)
		p := Plan{
			ID: pc.ID, Name: pc.Name, Description: pc.Description,
			QPS:         limitValue(ps, path+".qps", pc.QPS),
			Quota:       limitValue(ps, path+".quota", pc.Quota),
			QuotaPeriod: periodValue(ps, path+".quotaPeriod", pc.QuotaPeriod),
			TimeZone:    pc.TimeZone,
		}
		p.Burst = explicitCount(ps, path+".burst", pc.Burst, bursts)
		p.DryRun = pc.Enforce != nil && !*pc.Enforce
		for j, n := range pc.Alerts {
			apath := index(path+".alerts", j)
			a := countValue(ps, apath, &n, 0) // 0 if it does not parse (reported)
			if a < 0 || a > 100 {             // before int(a), which a 32-bit int would wrap
				ps.add(apath, fmt.Errorf("must be a percentage from 1 to 100, got %d", a))
				a = 0 // out of range, like the value: validation skips the path
			}
			p.Alerts = append(p.Alerts, int(a))
		}
		for j, wc := range pc.Limits {
			wpath := index(path+".limits", j)
			w := Window{Name: wc.Name, Requests: countValue(ps, wpath+".requests", wc.Requests, 0)}
			if wc.Requests == nil {
				ps.add(wpath+".requests", errors.New("is required"))
				skip[wpath+".requests"] = true
			}
			per, err := ParseWindowPer(wc.Per)
			if err != nil {
				ps.add(wpath+".per", err)
			}
			w.Per = per
			p.Limits = append(p.Limits, w)
		}
		for _, api := range slices.Sorted(maps.Keys(pc.Throttles)) {
			tc := pc.Throttles[api]
			tpath := path + ".throttles." + api
			if p.Throttles == nil {
				p.Throttles = map[string]Throttle{}
			}
			th := Throttle{QPS: countValue(ps, tpath+".qps", tc.QPS, 0), Burst: explicitCount(ps, tpath+".burst", tc.Burst, bursts)}
			if tc.QPS == nil {
				ps.add(tpath+".qps", errors.New("is required"))
				skip[tpath+".qps"] = true
			}
			p.Throttles[api] = th
		}
		for j, bc := range pc.Bindings {
			if bc.APIs != nil && len(bc.APIs) == 0 {
				ps.add(index(path+".bindings", j)+".apis", errors.New("must not be empty; omit it for a service-wide binding"))
			}
			p.Bindings = append(p.Bindings, binding.Target{Service: bc.Service, Environment: bc.Environment, APIs: bc.APIs})
		}
		m.plans = append(m.plans, modelPlan{Plan: p, Keys: orNil(pc.Keys)})
	}
	return m, skip
}

// periodValue parses a quotaPeriod: omitted is limiter.Total; another
// word is reported (as Total, so validation does not report it again).
func periodValue(ps *problems, path, s string) Period {
	p, err := limiter.ParsePeriod(s)
	if err != nil {
		ps.add(path, fmt.Errorf(`must be "total", "day", "week" or "month", got %q`, s))
	}
	return p
}

// limitValue parses a qps or quota: omitted is limiter.Unlimited; fractions,
// exponents and values beyond int64 are reported (as Unlimited, so
// validation does not report them again).
func limitValue(ps *problems, path string, n *json.Number) int64 {
	if n == nil {
		return limiter.Unlimited
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		reason := "must be an integer"
		if errors.Is(err, strconv.ErrRange) {
			reason = "is out of range"
		}
		ps.add(path, fmt.Errorf("%s, got %s", reason, n.String()))
		return limiter.Unlimited
	}
	return v
}

// countValue parses a count (burst, requests): omitted is def;
// fractions, exponents and values beyond int64 are reported (as def, so
// validation does not report them again).
func countValue(ps *problems, path string, n *json.Number, def int64) int64 {
	if n == nil {
		return def
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		reason := "must be an integer"
		if errors.Is(err, strconv.ErrRange) {
			reason = "is out of range"
		}
		ps.add(path, fmt.Errorf("%s, got %s", reason, n.String()))
		return def
	}
	return v
}

// explicitCount is countValue for an optional field whose 0 means
// omitted: a 0 written in the file is reported at path (range says what
// the field takes; validation skips a path reported here).
func explicitCount(ps *problems, path string, n *json.Number, range_ string) int64 {
	v := countValue(ps, path, n, 0)
	if n != nil && strings.TrimLeft(n.String(), "-") == "0" {
		ps.add(path, fmt.Errorf("must be %s, got 0 (omit it for the default)", range_))
	}
	return v
}

// The names of a window's per that are not Go durations.
var windowPers = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

// ParseWindowPer parses a window's per: "second", "minute", "hour",
// "day", or a Go duration of whole seconds from "1s" to "24h".
func ParseWindowPer(s string) (time.Duration, error) {
	if d, ok := windowPers[s]; ok {
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinWindowPer || d > MaxWindowPer || d%time.Second != 0 {
		return 0, fmt.Errorf(`must be "second", "minute", "hour", "day" or a duration of whole seconds from 1s to 24h, got %q`, s)
	}
	return d, nil
}

// windowPerString is d as a config writes it: a unit's name when d is
// one, else a Go duration.
func windowPerString(d time.Duration) string {
	for name, v := range windowPers {
		if v == d {
			return name
		}
	}
	return d.String()
}

// under reports whether path is one of roots or inside one of them.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// orNil makes empty lists nil, so that "[]" and an omitted list load alike.
func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Config returns the snapshot as a Config, in ID order. Keys whose secret
// came from an environment variable are written with secretEnv; the others
// carry their secret in clear, as a config file must.
func (s *Snapshot) Config() *Config {
	cfg := &Config{Services: []ServiceConfig{}, Keys: []KeyConfig{}, Plans: []PlanConfig{}}
	for _, sv := range s.st.services {
		sc := ServiceConfig{ID: sv.ID, Name: sv.Name, Environments: append([]string{}, sv.Environments...), APIs: []APIConfig{}}
		for _, a := range sv.APIs {
			ac := APIConfig{ID: a.ID, Name: a.Name, Method: a.Method, Path: a.Path}
			if a.Cost > 1 {
				n := json.Number(strconv.FormatInt(a.Cost, 10))
				ac.Cost = &n
			}
			if a.Auth != AuthSecret {
				ac.Auth = string(a.Auth)
			}
			sc.APIs = append(sc.APIs, ac)
		}
		cfg.Services = append(cfg.Services, sc)
	}
	for _, k := range s.Keys() {
		kc := KeyConfig{ID: k.ID, Name: k.Name, SecretEnv: k.SecretEnv}
		if k.SecretEnv == "" {
			kc.Secret = ConfigSecret(k.Secret.Reveal())
		}
		if k.Status == keys.Disabled {
			kc.Status = k.Status.String()
		}
		cfg.Keys = append(cfg.Keys, kc)
	}
	for _, pr := range s.planRecs() {
		p := pr.withKeys()
		qps, quota := json.Number(strconv.FormatInt(p.QPS, 10)), json.Number(strconv.FormatInt(p.Quota, 10))
		pc := PlanConfig{
			ID: p.ID, Name: p.Name, Description: p.Description, QPS: &qps, Quota: &quota,
			QuotaPeriod: p.QuotaPeriod.String(), TimeZone: p.TimeZone, Keys: slices.Clone(p.Keys),
		}
		for _, b := range p.Bindings {
			pc.Bindings = append(pc.Bindings, BindingConfig{Service: b.Service, Environment: b.Environment, APIs: slices.Clone(b.APIs)})
		}
		if p.Burst != 0 {
			burst := json.Number(strconv.FormatInt(p.Burst, 10))
			pc.Burst = &burst
		}
		for _, w := range p.Limits {
			n := json.Number(strconv.FormatInt(w.Requests, 10))
			pc.Limits = append(pc.Limits, WindowConfig{Name: w.Name, Requests: &n, Per: windowPerString(w.Per)})
		}
		for api, th := range p.Throttles {
			if pc.Throttles == nil {
				pc.Throttles = map[string]ThrottleConfig{}
			}
			qps := json.Number(strconv.FormatInt(th.QPS, 10))
			tc := ThrottleConfig{QPS: &qps}
			if th.Burst != 0 {
				burst := json.Number(strconv.FormatInt(th.Burst, 10))
				tc.Burst = &burst
			}
			pc.Throttles[api] = tc
		}
		if p.DryRun {
			enforce := false
			pc.Enforce = &enforce
		}
		for _, a := range p.Alerts {
			pc.Alerts = append(pc.Alerts, json.Number(strconv.Itoa(a)))
		}
		cfg.Plans = append(cfg.Plans, pc)
	}
	return cfg
}

// Export writes the registry's current state as an indented JSON config
// that Load accepts and that loads back to the same state.
func (r *Registry) Export(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Snapshot().Config())
}
