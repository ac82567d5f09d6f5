package usageplan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/planguard/planguard/keys"
)

// Paging of the Describe queries.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// ErrInvalidParameter is wrapped by every Describe error caused by the
// query (paging, a missing or unknown ID).
var ErrInvalidParameter = errors.New("usageplan: invalid parameter")

// Usage reports the quota each key of a plan has consumed in the current
// period. The middleware package adapts a limiter to it. byKey may
// include keys the plan no longer binds; the Describe queries leave them
// out of every total. Queries run concurrently (the admin API serves
// each on its own goroutine), so an implementation must be safe for
// concurrent use.
type Usage interface {
	PlanUsage(ctx context.Context, plan Plan) (byKey map[string]int64, total int64, err error)
}

// Page selects a window of results: Offset (default 0) and Limit
// (0 means DefaultLimit; at most MaxLimit).
type Page struct {
	Offset, Limit int
}

func (p Page) bounds(total int) (lo, hi int, err error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return 0, 0, fmt.Errorf("%w: Limit must be 1–%d, got %d", ErrInvalidParameter, MaxLimit, p.Limit)
	}
	if p.Offset < 0 {
		return 0, 0, fmt.Errorf("%w: Offset must not be negative, got %d", ErrInvalidParameter, p.Offset)
	}
	lo = min(p.Offset, total)
	return lo, min(lo+limit, total), nil
}

func page[T any](rows []T, p Page) ([]T, error) {
	lo, hi, err := p.bounds(len(rows))
	if err != nil {
		return nil, err
	}
	return append([]T{}, rows[lo:hi]...), nil
}

// TimeFormat is the old gateway's time format, always UTC.
const TimeFormat = "2006-01-02T15:04:05Z"

func gatewayTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ApiUsagePlan is one row of DescribeApiUsagePlan and
// DescribeServiceUsagePlan: a plan bound to an environment of a service,
// for one API or (ApiId empty) service-wide.
type ApiUsagePlan struct {
	ServiceId           string
	ServiceName         string
	ApiId               string `json:",omitempty"`
	ApiName             string `json:",omitempty"`
	Path                string `json:",omitempty"`
	Method              string `json:",omitempty"`
	UsagePlanId         string
	UsagePlanName       string
	UsagePlanDesc       string
	Environment         string
	InUseRequestNum     int64
	MaxRequestNum       int64
	MaxRequestNumPreSec int64
	CreatedTime         string
	ModifiedTime        string
}

// ApiUsagePlanSet is DescribeApiUsagePlan's Result.
type ApiUsagePlanSet struct {
	TotalCount       int
	ApiUsagePlanList []ApiUsagePlan
}

// ServiceUsagePlanSet is DescribeServiceUsagePlan's Result.
type ServiceUsagePlanSet struct {
	TotalCount           int
	ServiceUsagePlanList []ApiUsagePlan
}

// ApiUsagePlanQuery selects DescribeApiUsagePlan's rows.
type ApiUsagePlanQuery struct {
	ServiceId         string   // required
	SearchEnvironment string   // exact match; empty: every environment
	ApiIds            []string // empty: every API (and service-wide rows)
	Page
}

// Describer answers the old gateway's Describe queries over one snapshot
// and the usage recorded for it. Results are sorted by plan ID, then
// environment, then API ID. Usage is read only for the plans on the page
// returned (once per plan), and a plan's InUseRequestNum sums only the
// keys it binds. A Describer is a value over an immutable snapshot: it
// is safe for concurrent use when its Usage is. The zero Describer (no
// Snapshot) is not usable.
type Describer struct {
	Snapshot *Snapshot
	Usage    Usage // nil reports no usage
}

// used returns the quota each key p binds has consumed, and their sum. A
// store may still count keys that p no longer binds; they are left out,
// so a plan's totals count the keys it binds.
func (d Describer) used(ctx context.Context, p Plan) (map[string]int64, int64, error) {
	if d.Usage == nil || d.Snapshot.PlanKeyCount(p.ID) == 0 {
		return map[string]int64{}, 0, nil // no key has used anything of it
	}
	all, _, err := d.Usage.PlanUsage(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	byKey := make(map[string]int64, d.Snapshot.PlanKeyCount(p.ID))
	var total int64
	for k := range d.Snapshot.PlanKeys(p.ID) {
		if n, ok := all[k]; ok {
			byKey[k] = n
			total += n
		}
	}
	return byKey, total, nil
}

// fillUsage sets InUseRequestNum on the rows of a page, reading each
// plan's usage once: a page costs what it returns, not what the service
// has bound.
func (d Describer) fillUsage(ctx context.Context, rows []ApiUsagePlan) error {
	totals := map[string]int64{}
	for i := range rows {
		id := rows[i].UsagePlanId
		used, ok := totals[id]
		if !ok {
			var err error
			if _, used, err = d.used(ctx, d.planByID(id)); err != nil {
				return err
			}
			totals[id] = used
		}
		rows[i].InUseRequestNum = used
	}
	return nil
}

// rowRef is one row of DescribeApiUsagePlan or DescribeServiceUsagePlan
// before it is written out: listing and sorting these is cheap, and only
// the rows of the page returned become ApiUsagePlan values.
type rowRef struct {
	plan     *Plan // the snapshot's: read only
	env, api string
}

// rows lists every (plan, environment, API or service-wide) of service,
// sorted by plan ID, environment and API ID.
func (d Describer) rows(svc Service, keep func(b bindingRow) bool) []rowRef {
	var out []rowRef
	for _, pr := range d.Snapshot.planRecs() {
		p := &pr.plan // no copy of every plan's keys
		for _, b := range p.Bindings {
			if b.Service != svc.ID {
				continue
			}
			apis := b.APIs
			if b.ServiceWide() {
				apis = []string{""}
			}
			for _, apiID := range apis {
				if keep(bindingRow{env: b.Environment, api: apiID}) {
					out = append(out, rowRef{plan: p, env: b.Environment, api: apiID})
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b rowRef) int {
		if c := compareStrings(a.plan.ID, b.plan.ID); c != 0 {
			return c
		}
		if c := compareStrings(a.env, b.env); c != 0 {
			return c
		}
		return compareStrings(a.api, b.api)
	})
	return out
}

// pageRows writes out the rows of the page pg selects, with their usage.
func (d Describer) pageRows(ctx context.Context, svc Service, refs []rowRef, pg Page) ([]ApiUsagePlan, error) {
	refs, err := page(refs, pg)
	if err != nil {
		return nil, err
	}
	out := make([]ApiUsagePlan, 0, len(refs))
	for _, ref := range refs {
		p := ref.plan
		r := ApiUsagePlan{
			ServiceId: svc.ID, ServiceName: svc.Name,
			UsagePlanId: p.ID, UsagePlanName: p.Name, UsagePlanDesc: p.Description,
			Environment:   ref.env,
			MaxRequestNum: p.Quota, MaxRequestNumPreSec: p.QPS,
			CreatedTime: gatewayTime(p.Created), ModifiedTime: gatewayTime(p.Modified),
		}
		if a, ok := svc.API(ref.api); ok {
			r.ApiId, r.ApiName, r.Path, r.Method = a.ID, a.Name, a.Path, a.Method
		}
		out = append(out, r)
	}
	if err := d.fillUsage(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

type bindingRow struct{ env, api string }

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (d Describer) service(id string) (Service, error) {
	return lookup(id, "ServiceId", "service", d.Snapshot.Service)
}

func (d Describer) plan(id string) (Plan, error) {
	return lookup(id, "UsagePlanId", "usage plan", d.Snapshot.Plan)
}

// lookup finds the item a required ID parameter names, or says what is
// wrong with the parameter.
func lookup[T any](id, param, what string, find func(string) (T, bool)) (T, error) {
	var zero T
	if id == "" {
		return zero, fmt.Errorf("%w: %s is required", ErrInvalidParameter, param)
	}
	v, ok := find(id)
	if !ok {
		return zero, fmt.Errorf("%w: no %s %s", ErrInvalidParameter, what, id)
	}
	return v, nil
}

// ApiUsagePlan is DescribeApiUsagePlan: the plans bound to a service and
// its APIs, one row per plan, environment and API (service-wide bindings
// as one row without an API).
func (d Describer) ApiUsagePlan(ctx context.Context, q ApiUsagePlanQuery) (ApiUsagePlanSet, error) {
	svc, err := d.service(q.ServiceId)
	if err != nil {
		return ApiUsagePlanSet{}, err
	}
	if _, _, err := q.Page.bounds(0); err != nil {
		return ApiUsagePlanSet{}, err
	}
	apis := make(map[string]bool, len(q.ApiIds)) // a set: a query may list many
	for _, id := range q.ApiIds {
		apis[id] = true
	}
	rows := d.rows(svc, func(b bindingRow) bool {
		if q.SearchEnvironment != "" && b.env != q.SearchEnvironment {
			return false
		}
		return len(apis) == 0 || apis[b.api]
	})
	list, err := d.pageRows(ctx, svc, rows, q.Page)
	if err != nil {
		return ApiUsagePlanSet{}, err
	}
	return ApiUsagePlanSet{TotalCount: len(rows), ApiUsagePlanList: list}, nil
}

// ServiceUsagePlan is DescribeServiceUsagePlan: the plans bound to a
// service service-wide.
func (d Describer) ServiceUsagePlan(ctx context.Context, serviceID string, p Page) (ServiceUsagePlanSet, error) {
	svc, err := d.service(serviceID)
	if err != nil {
		return ServiceUsagePlanSet{}, err
	}
	if _, _, err := p.bounds(0); err != nil {
		return ServiceUsagePlanSet{}, err
	}
	rows := d.rows(svc, func(b bindingRow) bool { return b.api == "" })
	list, err := d.pageRows(ctx, svc, rows, p)
	if err != nil {
		return ServiceUsagePlanSet{}, err
	}
	return ServiceUsagePlanSet{TotalCount: len(rows), ServiceUsagePlanList: list}, nil
}

// UsagePlanEnvironment is one row of DescribeUsagePlanEnvironments.
type UsagePlanEnvironment struct {
	ServiceId           string
	ServiceName         string
	ApiId               string `json:",omitempty"`
	ApiName             string `json:",omitempty"`
	Path                string `json:",omitempty"`
	Method              string `json:",omitempty"`
	Environment         string
	InUseRequestNum     int64
	MaxRequestNum       int64
	MaxRequestNumPreSec int64
	CreatedTime         string
	ModifiedTime        string
}

// UsagePlanEnvironmentStatus is DescribeUsagePlanEnvironments' Result.
type UsagePlanEnvironmentStatus struct {
	TotalCount      int
	EnvironmentList []UsagePlanEnvironment
}

// BindType selects service-wide or API-scoped bindings.
const (
	BindService = "SERVICE"
	BindAPI     = "API"
)

// UsagePlanEnvironments is DescribeUsagePlanEnvironments: the service
// environments a plan is bound to, service-wide (bindType SERVICE, the
// default) or per API (API).
func (d Describer) UsagePlanEnvironments(ctx context.Context, planID, bindType string, pg Page) (UsagePlanEnvironmentStatus, error) {
	p, err := d.plan(planID)
	if err != nil {
		return UsagePlanEnvironmentStatus{}, err
	}
	if bindType == "" {
		bindType = BindService
	}
	if bindType != BindService && bindType != BindAPI {
		return UsagePlanEnvironmentStatus{}, fmt.Errorf("%w: BindType must be SERVICE or API, got %q", ErrInvalidParameter, bindType)
	}
	if _, _, err := pg.bounds(0); err != nil {
		return UsagePlanEnvironmentStatus{}, err
	}
	_, used, err := d.used(ctx, p)
	if err != nil {
		return UsagePlanEnvironmentStatus{}, err
	}
	var rows []UsagePlanEnvironment
	for _, b := range p.Bindings {
		if b.ServiceWide() != (bindType == BindService) {
			continue
		}
		svc, _ := d.Snapshot.Service(b.Service)
		row := UsagePlanEnvironment{
			ServiceId: svc.ID, ServiceName: svc.Name, Environment: b.Environment,
			InUseRequestNum: used, MaxRequestNum: p.Quota, MaxRequestNumPreSec: p.QPS,
			CreatedTime: gatewayTime(p.Created), ModifiedTime: gatewayTime(p.Modified),
		}
		if b.ServiceWide() {
			rows = append(rows, row)
			continue
		}
		for _, id := range b.APIs {
			a, _ := svc.API(id)
			r := row
			r.ApiId, r.ApiName, r.Path, r.Method = a.ID, a.Name, a.Path, a.Method
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b UsagePlanEnvironment) int {
		for _, c := range [][2]string{{a.ServiceId, b.ServiceId}, {a.Environment, b.Environment}, {a.ApiId, b.ApiId}} {
			if r := compareStrings(c[0], c[1]); r != 0 {
				return r
			}
		}
		return 0
	})
	list, err := page(rows, pg)
	return UsagePlanEnvironmentStatus{TotalCount: len(rows), EnvironmentList: list}, err
}

// UsagePlanBindSecret is one key bound to a plan.
type UsagePlanBindSecret struct {
	AccessKeyId     string
	SecretName      string
	Status          int   // 1 enabled, 0 disabled
	InUseRequestNum int64 // this key's consumed quota (a planguard addition)
}

// UsagePlanBindSecretStatus is DescribeUsagePlanSecretIds' Result.
type UsagePlanBindSecretStatus struct {
	TotalCount    int
	AccessKeyList []UsagePlanBindSecret
}

func statusNumber(s keys.Status) int {
	if s == keys.Enabled {
		return 1
	}
	return 0
}

// UsagePlanSecretIds is DescribeUsagePlanSecretIds: the keys bound to a
// plan, in ID order, never with their secrets.
func (d Describer) UsagePlanSecretIds(ctx context.Context, planID string, pg Page) (UsagePlanBindSecretStatus, error) {
	p, err := d.plan(planID)
	if err != nil {
		return UsagePlanBindSecretStatus{}, err
	}
	if _, _, err := pg.bounds(0); err != nil {
		return UsagePlanBindSecretStatus{}, err
	}
	byKey, _, err := d.used(ctx, p)
	if err != nil {
		return UsagePlanBindSecretStatus{}, err
	}
	ids := slices.Sorted(d.Snapshot.PlanKeys(p.ID))
	rows := make([]UsagePlanBindSecret, 0, len(ids))
	for _, id := range ids {
		k, _ := d.Snapshot.Key(id)
		rows = append(rows, UsagePlanBindSecret{AccessKeyId: id, SecretName: k.Name, Status: statusNumber(k.Status), InUseRequestNum: byKey[id]})
	}
	list, err := page(rows, pg)
	return UsagePlanBindSecretStatus{TotalCount: len(rows), AccessKeyList: list}, err
}

// UsagePlanInfo is DescribeUsagePlan's Result.
type UsagePlanInfo struct {
	UsagePlanId               string
	UsagePlanName             string
	UsagePlanDesc             string
	MaxRequestNumPreSec       int64
	MaxRequestNum             int64
	InUseRequestNum           int64
	CreatedTime               string
	ModifiedTime              string
	BindSecretIdTotalCount    int
	BindSecretIds             []string
	BindEnvironmentTotalCount int
	BindEnvironments          []UsagePlanBindEnvironment
	// Extra fields, beyond the old gateway's, each omitted when the plan
	// does not set it: the QPS bucket's burst, the windows, the per-API
	// throttles, Enforce false for a dry run, and the alert thresholds
	// (percentages of the quota).
	MaxRequestBurst int64               `json:",omitempty"`
	RequestLimits   []UsagePlanLimit    `json:",omitempty"`
	ApiThrottles    []UsagePlanThrottle `json:",omitempty"`
	Enforce         *bool               `json:",omitempty"`
	QuotaAlerts     []int               `json:",omitempty"`
}

// UsagePlanLimit is one window of a plan: Requests per PerSeconds.
type UsagePlanLimit struct {
	Name       string
	Requests   int64
	PerSeconds int64
}

// UsagePlanThrottle is a plan's throttle of one API.
type UsagePlanThrottle struct {
	ApiId               string
	MaxRequestNumPreSec int64
	MaxRequestBurst     int64 `json:",omitempty"`
}

// UsagePlanBindEnvironment is one service environment a plan binds.
type UsagePlanBindEnvironment struct {
	EnvironmentName string
	ServiceId       string
	ApiIds          []string `json:",omitempty"` // empty: service-wide
}

// UsagePlan is DescribeUsagePlan.
func (d Describer) UsagePlan(ctx context.Context, planID string) (UsagePlanInfo, error) {
	p, err := d.plan(planID)
	if err != nil {
		return UsagePlanInfo{}, err
	}
	_, used, err := d.used(ctx, p)
	if err != nil {
		return UsagePlanInfo{}, err
	}
	info := UsagePlanInfo{
		UsagePlanId: p.ID, UsagePlanName: p.Name, UsagePlanDesc: p.Description,
		MaxRequestNumPreSec: p.QPS, MaxRequestNum: p.Quota, InUseRequestNum: used,
		CreatedTime: gatewayTime(p.Created), ModifiedTime: gatewayTime(p.Modified),
		BindSecretIdTotalCount: d.Snapshot.PlanKeyCount(p.ID), BindSecretIds: slices.Sorted(d.Snapshot.PlanKeys(p.ID)),
		BindEnvironmentTotalCount: len(p.Bindings), BindEnvironments: []UsagePlanBindEnvironment{},
	}
	if info.BindSecretIds == nil {
		info.BindSecretIds = []string{}
	}
	for _, b := range p.Bindings {
		info.BindEnvironments = append(info.BindEnvironments, UsagePlanBindEnvironment{EnvironmentName: b.Environment, ServiceId: b.Service, ApiIds: b.APIs})
	}
	info.MaxRequestBurst = p.Burst
	for _, w := range p.Limits {
		info.RequestLimits = append(info.RequestLimits, UsagePlanLimit{Name: w.Name, Requests: w.Requests, PerSeconds: int64(w.Per / time.Second)})
	}
	for _, api := range slices.Sorted(maps.Keys(p.Throttles)) {
		th := p.Throttles[api]
		info.ApiThrottles = append(info.ApiThrottles, UsagePlanThrottle{ApiId: api, MaxRequestNumPreSec: th.QPS, MaxRequestBurst: th.Burst})
	}
	if p.DryRun {
		enforce := false
		info.Enforce = &enforce
	}
	info.QuotaAlerts = slices.Clone(p.Alerts)
	return info, nil
}

// ApiKey is one key of DescribeApiKeysStatus. The secret is never
// included.
type ApiKey struct {
	AccessKeyId   string
	AccessKeyType string // "auto" (generated AKID…) or "manual"
	SecretName    string
	Status        int
	CreatedTime   string
	ModifiedTime  string
}

// ApiKeysStatus is DescribeApiKeysStatus' Result.
type ApiKeysStatus struct {
	TotalCount int
	ApiKeySet  []ApiKey
}

// looksGenerated reports whether id has the form of a generated
// secret_id: AKID and letters and digits only. Manual IDs may not contain
// only those, but in practice use '_' or '-'; the registry keeps no flag.
func looksGenerated(id string) bool {
	if !strings.HasPrefix(id, keys.AutoIDPrefix) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ApiKeysStatus is DescribeApiKeysStatus: every key, in ID order.
func (d Describer) ApiKeysStatus(pg Page) (ApiKeysStatus, error) {
	var rows []ApiKey
	for _, k := range d.Snapshot.Keys() {
		typ := "manual"
		if looksGenerated(k.ID) {
			typ = "auto"
		}
		rows = append(rows, ApiKey{AccessKeyId: k.ID, AccessKeyType: typ, SecretName: k.Name, Status: statusNumber(k.Status),
			CreatedTime: gatewayTime(k.Created), ModifiedTime: gatewayTime(k.Modified)})
	}
	list, err := page(rows, pg)
	return ApiKeysStatus{TotalCount: len(rows), ApiKeySet: list}, err
}

func (d Describer) planByID(id string) Plan {
	p, _ := d.Snapshot.Plan(id)
	return p
}
