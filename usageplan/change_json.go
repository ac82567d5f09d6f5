package usageplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// The JSON encoding of records, which a Journal stores:
//
//	{"revision": 7, "time": "2026-01-02T03:04:05Z", "changes": [
//	  {"kind": "keyAdded", "key": {"id": "AKID...", "name": "k", "secret": "...", "status": "enabled", ...}},
//	  {"kind": "keysBound", "plan": "usagePlan-...", "keys": ["AKID..."]}]}
//
// Keys carry their secret in clear, as a config file does: a journal is
// the registry's state, to be kept as safe as the config.

// MarshalJSON encodes the record with its changes, each tagged with its
// kind.
func (rec Record) MarshalJSON() ([]byte, error) {
	w, err := rec.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

func (rec Record) wire() (recordWire, error) {
	w := recordWire{Revision: rec.Revision, Time: rec.Time, Changes: make([]changeWire, len(rec.Changes))}
	for i, c := range rec.Changes {
		cw, err := encodeChange(c)
		if err != nil {
			return w, fmt.Errorf("usageplan: encoding change %d of revision %d: %w", i, rec.Revision, err)
		}
		w.Changes[i] = cw
	}
	return w, nil
}

// UnmarshalJSON decodes a record that MarshalJSON encoded. An unknown
// kind or field is an error.
func (rec *Record) UnmarshalJSON(data []byte) error {
	var w recordWire
	if err := strictUnmarshal(data, &w); err != nil {
		return fmt.Errorf("usageplan: decoding a record: %w", err)
	}
	if w.Times != nil {
		return fmt.Errorf("usageplan: decoding a record: revision %d has a checkpoint's times", w.Revision)
	}
	out, err := w.record()
	if err != nil {
		return err
	}
	*rec = out
	return nil
}

func (w *recordWire) record() (Record, error) {
	out := Record{Revision: w.Revision, Time: w.Time, Changes: make([]Change, len(w.Changes))}
	for i, cw := range w.Changes {
		c, err := decodeChange(cw)
		if err != nil {
			return Record{}, fmt.Errorf("usageplan: decoding change %d of revision %d: %w", i, w.Revision, err)
		}
		out.Changes[i] = c
	}
	return out, nil
}

// A checkpoint (Registry.Checkpoint) is stored as the encoding of the
// record of the changes that make its state from nothing, plus, under
// "times", the created and modified times of what they add: applied at
// the record's time alone, they would stamp every key and plan with the
// checkpoint's time. Records of revisions carry no times: each of their
// changes takes its record's.
//
//	{"revision": 9, "time": "...", "changes": [...],
//	 "times": {"keys": [[created, modified], ...], "plans": [...]}}
//
// The times are Unix nanoseconds, in the order of the record's keyAdded
// changes and of its planCreated changes. A checkpoint without "times"
// (from an older version) restores its keys and plans at the record's
// time.
type checkpointTimes struct {
	Keys  [][2]int64 `json:"keys"`
	Plans [][2]int64 `json:"plans"`
}

// marshalCheckpoint encodes rec, the state at its revision as changes
// from nothing, with the times of the keys and plans they add.
func marshalCheckpoint(rec Record) ([]byte, error) {
	w, err := rec.wire()
	if err != nil {
		return nil, err
	}
	t := &checkpointTimes{Keys: [][2]int64{}, Plans: [][2]int64{}}
	for _, c := range rec.Changes {
		switch c := c.(type) {
		case KeyAdded:
			t.Keys = append(t.Keys, [2]int64{unixNano(c.Key.Created), unixNano(c.Key.Modified)})
		case PlanCreated:
			t.Plans = append(t.Plans, [2]int64{unixNano(c.Plan.Created), unixNano(c.Plan.Modified)})
		}
	}
	w.Times = t
	return json.Marshal(w)
}

// unmarshalCheckpoint decodes what marshalCheckpoint encoded: its
// record, whose last change gives the keys and plans their times.
func unmarshalCheckpoint(data []byte) (Record, error) {
	var w recordWire
	if err := strictUnmarshal(data, &w); err != nil {
		return Record{}, fmt.Errorf("usageplan: decoding a checkpoint: %w", err)
	}
	rec, err := w.record()
	if err != nil || w.Times == nil {
		return rec, err
	}
	kept := timesKept{keys: map[string][2]time.Time{}, plans: map[string][2]time.Time{}}
	var nk, np int
	for _, c := range rec.Changes {
		switch c := c.(type) {
		case KeyAdded:
			if nk < len(w.Times.Keys) {
				kept.keys[c.Key.ID] = fromUnixNano(w.Times.Keys[nk])
			}
			nk++
		case PlanCreated:
			if np < len(w.Times.Plans) {
				kept.plans[c.Plan.ID] = fromUnixNano(w.Times.Plans[np])
			}
			np++
		}
	}
	if nk != len(w.Times.Keys) || np != len(w.Times.Plans) {
		return Record{}, fmt.Errorf("usageplan: decoding a checkpoint: times for %d keys and %d plans, but it adds %d keys and %d plans", len(w.Times.Keys), len(w.Times.Plans), nk, np)
	}
	rec.Changes = append(rec.Changes, kept)
	return rec, nil
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(t [2]int64) [2]time.Time {
	var out [2]time.Time
	for i, n := range t {
		if n != 0 {
			out[i] = time.Unix(0, n).UTC()
		}
	}
	return out
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type recordWire struct {
	Revision uint64           `json:"revision"`
	Time     time.Time        `json:"time"`
	Changes  []changeWire     `json:"changes"`
	Times    *checkpointTimes `json:"times,omitempty"` // a checkpoint's only
}

// changeWire is every change's fields, the ones its kind uses set.
type changeWire struct {
	Kind        string       `json:"kind"`
	ID          string       `json:"id,omitempty"`
	Plan        string       `json:"plan,omitempty"`
	Service     string       `json:"service,omitempty"`
	Environment string       `json:"environment,omitempty"`
	APIs        []string     `json:"apis,omitempty"`
	Keys        []string     `json:"keys,omitempty"`
	Name        string       `json:"name,omitempty"`
	Secret      string       `json:"secret,omitempty"`
	SecretEnv   string       `json:"secretEnv,omitempty"`
	ServiceV    *serviceWire `json:"serviceValue,omitempty"`
	Key         *keyWire     `json:"key,omitempty"`
	PlanV       *planWire    `json:"planValue,omitempty"`
	Patch       *patchWire   `json:"patch,omitempty"`
	Target      *targetWire  `json:"target,omitempty"`
}

type serviceWire struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Environments []string  `json:"environments,omitempty"`
	APIs         []apiWire `json:"apis,omitempty"`
}

type apiWire struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Auth   string `json:"auth"`
	Cost   int64  `json:"cost,omitempty"`
}

type keyWire struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Secret    string    `json:"secret,omitempty"`
	SecretEnv string    `json:"secretEnv,omitempty"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
	Modified  time.Time `json:"modified"`
}

type planWire struct {
	ID          string                  `json:"id"`
	Name        string                  `json:"name"`
	Description string                  `json:"description,omitempty"`
	QPS         int64                   `json:"qps"`
	Quota       int64                   `json:"quota"`
	QuotaPeriod string                  `json:"quotaPeriod,omitempty"`
	TimeZone    string                  `json:"timeZone,omitempty"`
	Burst       int64                   `json:"burst,omitempty"`
	Limits      []windowWire            `json:"limits,omitempty"`
	Throttles   map[string]throttleWire `json:"throttles,omitempty"`
	DryRun      bool                    `json:"dryRun,omitempty"`
	Alerts      []int                   `json:"alerts,omitempty"`
	Keys        []string                `json:"keys,omitempty"`
	Bindings    []targetWire            `json:"bindings,omitempty"`
	Created     time.Time               `json:"created"`
	Modified    time.Time               `json:"modified"`
}

// patchWire is a PlanPatch: an omitted member leaves the setting as it
// is, so a patch that empties the limits or throttles writes [] or {}.
type patchWire struct {
	Name        *string                  `json:"name,omitempty"`
	Description *string                  `json:"description,omitempty"`
	QPS         *int64                   `json:"qps,omitempty"`
	Quota       *int64                   `json:"quota,omitempty"`
	QuotaPeriod *string                  `json:"quotaPeriod,omitempty"`
	TimeZone    *string                  `json:"timeZone,omitempty"`
	Burst       *int64                   `json:"burst,omitempty"`
	Limits      *[]windowWire            `json:"limits,omitempty"`
	Throttles   *map[string]throttleWire `json:"throttles,omitempty"`
	DryRun      *bool                    `json:"dryRun,omitempty"`
	Alerts      *[]int                   `json:"alerts,omitempty"`
}

type windowWire struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	Per      int64  `json:"perNanoseconds"`
}

type throttleWire struct {
	QPS   int64 `json:"qps"`
	Burst int64 `json:"burst,omitempty"`
}

type targetWire struct {
	Service     string   `json:"service"`
	Environment string   `json:"environment"`
	APIs        []string `json:"apis,omitempty"`
}

func encodeChange(c Change) (changeWire, error) {
	w := changeWire{}
	switch c := c.(type) {
	case ServicePut:
		w.ServiceV = toServiceWire(c.Service)
	case ServiceDeleted:
		w.ID = c.ID
	case KeyAdded:
		w.Key = toKeyWire(c.Key)
	case KeyUpdated:
		w.ID, w.Name, w.Secret, w.SecretEnv = c.ID, c.Name, c.Secret.Reveal(), c.SecretEnv
	case KeyEnabled:
		w.ID = c.ID
	case KeyDisabled:
		w.ID = c.ID
	case KeyRotated:
		w.ID, w.Secret = c.ID, c.Secret.Reveal()
	case KeyDeleted:
		w.ID = c.ID
	case PlanCreated:
		w.PlanV = toPlanWire(c.Plan, c.Keys)
	case PlanUpdated:
		w.ID, w.Patch = c.ID, toPatchWire(c.PlanPatch)
	case PlanDeleted:
		w.ID = c.ID
	case KeysBound:
		w.Plan, w.Keys = c.Plan, c.Keys
	case KeysUnbound:
		w.Plan, w.Keys = c.Plan, c.Keys
	case PlanBound:
		t := toTargetWire(c.Target)
		w.Plan, w.Target = c.Plan, &t
	case PlanUnbound:
		w.Plan, w.Service, w.Environment, w.APIs = c.Plan, c.Service, c.Environment, c.APIs
	case PlanDemoted:
		w.Plan, w.Service, w.Environment = c.Plan, c.Service, c.Environment
	default:
		return w, fmt.Errorf("unknown change %T", c)
	}
	w.Kind = c.Kind()
	return w, nil
}

func decodeChange(w changeWire) (Change, error) {
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s change without its %s", w.Kind, what)
		}
		return nil
	}
	switch w.Kind {
	case KindServicePut:
		if err := need(w.ServiceV != nil, "serviceValue"); err != nil {
			return nil, err
		}
		return ServicePut{Service: w.ServiceV.service()}, nil
	case KindServiceDeleted:
		return ServiceDeleted{ID: w.ID}, nil
	case KindKeyAdded:
		if err := need(w.Key != nil, "key"); err != nil {
			return nil, err
		}
		return w.Key.key()
	case KindKeyUpdated:
		return KeyUpdated{ID: w.ID, Name: w.Name, Secret: keys.NewSecret(w.Secret), SecretEnv: w.SecretEnv}, nil
	case KindKeyEnabled:
		return KeyEnabled{ID: w.ID}, nil
	case KindKeyDisabled:
		return KeyDisabled{ID: w.ID}, nil
	case KindKeyRotated:
		return KeyRotated{ID: w.ID, Secret: keys.NewSecret(w.Secret)}, nil
	case KindKeyDeleted:
		return KeyDeleted{ID: w.ID}, nil
	case KindPlanCreated:
		if err := need(w.PlanV != nil, "planValue"); err != nil {
			return nil, err
		}
		p, keys, err := w.PlanV.plan()
		if err != nil {
			return nil, err
		}
		return PlanCreated{Plan: p, Keys: keys}, nil
	case KindPlanUpdated:
		if err := need(w.Patch != nil, "patch"); err != nil {
			return nil, err
		}
		pp, err := w.Patch.patch()
		if err != nil {
			return nil, err
		}
		return PlanUpdated{ID: w.ID, PlanPatch: pp}, nil
	case KindPlanDeleted:
		return PlanDeleted{ID: w.ID}, nil
	case KindKeysBound:
		return KeysBound{Plan: w.Plan, Keys: w.Keys}, nil
	case KindKeysUnbound:
		return KeysUnbound{Plan: w.Plan, Keys: w.Keys}, nil
	case KindPlanBound:
		if err := need(w.Target != nil, "target"); err != nil {
			return nil, err
		}
		return PlanBound{Plan: w.Plan, Target: w.Target.target()}, nil
	case KindPlanUnbound:
		return PlanUnbound{Plan: w.Plan, Service: w.Service, Environment: w.Environment, APIs: w.APIs}, nil
	case KindPlanDemoted:
		return PlanDemoted{Plan: w.Plan, Service: w.Service, Environment: w.Environment}, nil
	}
	return nil, fmt.Errorf("unknown kind of change %q", w.Kind)
}

func toServiceWire(s Service) *serviceWire {
	w := &serviceWire{ID: s.ID, Name: s.Name, Environments: s.Environments}
	for _, a := range s.APIs {
		w.APIs = append(w.APIs, apiWire{ID: a.ID, Name: a.Name, Method: a.Method, Path: a.Path, Auth: string(a.Auth), Cost: a.Cost})
	}
	return w
}

func (w *serviceWire) service() Service {
	s := Service{ID: w.ID, Name: w.Name, Environments: w.Environments}
	for _, a := range w.APIs {
		s.APIs = append(s.APIs, API{ID: a.ID, Name: a.Name, Method: a.Method, Path: a.Path, Auth: Auth(a.Auth), Cost: a.Cost})
	}
	return s
}

func toKeyWire(k keys.Key) *keyWire {
	return &keyWire{ID: k.ID, Name: k.Name, Secret: k.Secret.Reveal(), SecretEnv: k.SecretEnv,
		Status: k.Status.String(), Created: k.Created, Modified: k.Modified}
}

func (w *keyWire) key() (Change, error) {
	status, err := keys.ParseStatus(w.Status)
	if err != nil {
		return nil, err
	}
	return KeyAdded{Key: keys.Key{ID: w.ID, Name: w.Name, Secret: keys.NewSecret(w.Secret), SecretEnv: w.SecretEnv,
		Status: status, Created: w.Created, Modified: w.Modified}}, nil
}

func toWindowsWire(ws []Window) []windowWire {
	if ws == nil {
		return nil
	}
	out := make([]windowWire, len(ws))
	for i, w := range ws {
		out[i] = windowWire{Name: w.Name, Requests: w.Requests, Per: int64(w.Per)}
	}
	return out
}

func fromWindowsWire(ws []windowWire) []Window {
	if ws == nil {
		return nil
	}
	out := make([]Window, len(ws))
	for i, w := range ws {
		out[i] = Window{Name: w.Name, Requests: w.Requests, Per: time.Duration(w.Per)}
	}
	return out
}

func toThrottlesWire(ts map[string]Throttle) map[string]throttleWire {
	if ts == nil {
		return nil
	}
	out := make(map[string]throttleWire, len(ts))
	for api, t := range ts {
		out[api] = throttleWire{QPS: t.QPS, Burst: t.Burst}
	}
	return out
}

func fromThrottlesWire(ts map[string]throttleWire) map[string]Throttle {
	if ts == nil {
		return nil
	}
	out := make(map[string]Throttle, len(ts))
	for api, t := range ts {
		out[api] = Throttle{QPS: t.QPS, Burst: t.Burst}
	}
	return out
}

func toTargetWire(t binding.Target) targetWire {
	return targetWire{Service: t.Service, Environment: t.Environment, APIs: t.APIs}
}

func (w targetWire) target() binding.Target {
	return binding.Target{Service: w.Service, Environment: w.Environment, APIs: w.APIs}
}

func toPlanWire(p Plan, keys []string) *planWire {
	w := &planWire{
		ID: p.ID, Name: p.Name, Description: p.Description, QPS: p.QPS, Quota: p.Quota,
		QuotaPeriod: p.QuotaPeriod.String(), TimeZone: p.TimeZone, Burst: p.Burst,
		Limits: toWindowsWire(p.Limits), Throttles: toThrottlesWire(p.Throttles), DryRun: p.DryRun,
		Alerts: p.Alerts, Keys: keys, Created: p.Created, Modified: p.Modified,
	}
	for _, t := range p.Bindings {
		w.Bindings = append(w.Bindings, toTargetWire(t))
	}
	return w
}

// plan returns the plan and the keys it binds from the start.
func (w *planWire) plan() (Plan, []string, error) {
	period, err := limiter.ParsePeriod(w.QuotaPeriod)
	if err != nil {
		return Plan{}, nil, err
	}
	p := Plan{
		ID: w.ID, Name: w.Name, Description: w.Description, QPS: w.QPS, Quota: w.Quota,
		QuotaPeriod: period, TimeZone: w.TimeZone, Burst: w.Burst,
		Limits: fromWindowsWire(w.Limits), Throttles: fromThrottlesWire(w.Throttles), DryRun: w.DryRun,
		Alerts: w.Alerts, Created: w.Created, Modified: w.Modified,
	}
	for _, t := range w.Bindings {
		p.Bindings = append(p.Bindings, t.target())
	}
	return p, w.Keys, nil
}

func toPatchWire(p PlanPatch) *patchWire {
	w := &patchWire{
		Name: p.Name, Description: p.Description, QPS: p.QPS, Quota: p.Quota,
		TimeZone: p.TimeZone, Burst: p.Burst, DryRun: p.DryRun,
	}
	if p.Alerts != nil {
		a := slices.Clone(*p.Alerts)
		if a == nil {
			a = []int{}
		}
		w.Alerts = &a
	}
	if p.QuotaPeriod != nil {
		s := p.QuotaPeriod.String()
		w.QuotaPeriod = &s
	}
	if p.Limits != nil {
		l := toWindowsWire(*p.Limits)
		if l == nil {
			l = []windowWire{}
		}
		w.Limits = &l
	}
	if p.Throttles != nil {
		t := toThrottlesWire(*p.Throttles)
		if t == nil {
			t = map[string]throttleWire{}
		}
		w.Throttles = &t
	}
	return w
}

func (w *patchWire) patch() (PlanPatch, error) {
	p := PlanPatch{
		Name: w.Name, Description: w.Description, QPS: w.QPS, Quota: w.Quota,
		TimeZone: w.TimeZone, Burst: w.Burst, DryRun: w.DryRun,
	}
	if w.Alerts != nil {
		a := slices.Clone(*w.Alerts)
		p.Alerts = &a
	}
	if w.QuotaPeriod != nil {
		qp, err := limiter.ParsePeriod(*w.QuotaPeriod)
		if err != nil {
			return PlanPatch{}, err
		}
		p.QuotaPeriod = &qp
	}
	if w.Limits != nil {
		l := fromWindowsWire(*w.Limits)
		p.Limits = &l
	}
	if w.Throttles != nil {
		t := fromThrottlesWire(*w.Throttles)
		p.Throttles = &t
	}
	return p, nil
}
