package usageplan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/planguard/planguard/keys"
)

// ExportFile is one saved response of the old gateway's Describe actions:
// the JSON as the API returned it ({"Response": {"Result": …}}), as
// tccli prints it ({"Result": …, "RequestId": …}), or the bare Result.
// Actions whose response does not name the usage plan
// (DescribeUsagePlanEnvironments, DescribeUsagePlanSecretIds) need
// UsagePlanId, or a Name that contains it
// ("DescribeUsagePlanSecretIds-usagePlan-quqxvett.json").
type ExportFile struct {
	Name        string
	Data        []byte
	UsagePlanId string
}

// ImportReport lists what Import could not map, each with the file and
// JSON path it came from. Nothing is dropped silently.
type ImportReport struct {
	Problems []Problem
}

// SecretEnvPrefix starts the secretEnv names Import gives keys whose
// export lacks the secret: PLANGUARD_SECRET_ + the secret_id in upper
// case with anything but letters and digits as '_'.
const SecretEnvPrefix = "PLANGUARD_SECRET_"

// SecretEnvName is the secretEnv Import gives a key, unless another
// imported key's ID maps to the same name ("partner-a", "partner_a" and
// "Partner_A" all do): then each of them gets the name followed by '_'
// and 8 hexadecimal digits of the SHA-256 of its exact ID, and the
// report says so.
func SecretEnvName(keyID string) string {
	return SecretEnvPrefix + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, keyID)
}

// Shapes of the old gateway's Results (API 3.0, version 2018-08-08).
type (
	exportRow struct {
		ServiceId, ServiceName, ApiId, ApiName, Path, Method   string
		UsagePlanId, UsagePlanName, UsagePlanDesc, Environment string
		MaxRequestNum, MaxRequestNumPreSec                     *int64
	}
	exportResult struct {
		UsagePlanStatusSet   []exportRow
		ApiUsagePlanList     []exportRow
		ServiceUsagePlanList []exportRow
		EnvironmentList      []exportRow
		AccessKeyList        []struct {
			AccessKeyId, SecretName string
			Status                  *int
		}
		ApiKeySet []struct {
			AccessKeyId, AccessKeySecret, SecretName string
			Status                                   *int
		}
		// DescribeUsagePlan's UsagePlanInfo
		UsagePlanId, UsagePlanName, UsagePlanDesc string
		MaxRequestNum, MaxRequestNumPreSec        *int64
		BindSecretIds                             []string
		BindEnvironments                          []struct{ EnvironmentName, ServiceId string }
	}
)

var planIDInName = regexp.MustCompile(`usagePlan-[a-z0-9]{8}`)

// importer accumulates a Config from export files.
type importer struct {
	cfg      Config
	services map[string]*ServiceConfig
	plans    map[string]*PlanConfig
	// planOrigin is where the export first described each plan.
	planOrigin map[string]string
	keys       map[string]*importedKey
	report     ImportReport
}

// importedKey is a key and where the export first described it.
type importedKey struct {
	cfg       KeyConfig
	origin    string // "file: path" of the first entry
	file      string
	path      string
	statusSet bool
	status    int   // when statusSet: 1 enabled, 0 disabled
	badSecret error // why the exported secret is refused, or nil
}

// Import turns the old gateway's exported Describe responses into a
// planguard Config. Keys whose secret the export lacks get a secretEnv
// (SecretEnvName); names planguard does not allow are made valid and
// reported; anything else that cannot be mapped is reported. Load the
// result with Registry.Apply or write it out as JSON.
func Import(files []ExportFile) (*Config, *ImportReport) {
	im := &importer{services: map[string]*ServiceConfig{}, plans: map[string]*PlanConfig{}, planOrigin: map[string]string{}, keys: map[string]*importedKey{}}
	for _, f := range files {
		im.file(f)
	}
	im.finish()
	return &im.cfg, &im.report
}

func (im *importer) problem(file, path, format string, args ...any) {
	im.report.Problems = append(im.report.Problems, Problem{Path: file + ": " + path, Err: fmt.Errorf(format, args...)})
}

func (im *importer) file(f ExportFile) {
	var env struct {
		Response *struct {
			Result *json.RawMessage
			Error  *struct{ Code, Message string }
		}
		Result *json.RawMessage // tccli's output: the response without its envelope
	}
	data := bytes.TrimSpace(f.Data)
	if err := json.Unmarshal(data, &env); err != nil {
		im.problem(f.Name, "", "not JSON: %v", err)
		return
	}
	raw := data
	if env.Response != nil {
		if env.Response.Error != nil {
			im.problem(f.Name, "Response.Error", "the export is an error response (%s)", env.Response.Error.Code)
			return
		}
		if env.Response.Result == nil {
			im.problem(f.Name, "Response", "no Result")
			return
		}
		raw = *env.Response.Result
	} else if env.Result != nil {
		raw = *env.Result
	}
	var res exportResult
	if err := json.Unmarshal(raw, &res); err != nil {
		im.problem(f.Name, "Result", "unexpected shape: %v", err)
		return
	}
	planID := f.UsagePlanId
	if planID == "" {
		planID = planIDInName.FindString(f.Name)
	}
	matched := false
	for field, rows := range map[string][]exportRow{
		"UsagePlanStatusSet": res.UsagePlanStatusSet, "ApiUsagePlanList": res.ApiUsagePlanList,
		"ServiceUsagePlanList": res.ServiceUsagePlanList,
	} {
		for i, r := range rows {
			matched = true
			im.row(f.Name, field+"["+strconv.Itoa(i)+"]", r)
		}
	}
	if res.EnvironmentList != nil || res.AccessKeyList != nil {
		matched = true
		if planID == "" {
			im.problem(f.Name, "Result", "the response does not name its usage plan; pass UsagePlanId or put it in the file name")
		} else {
			for i, r := range res.EnvironmentList {
				r.UsagePlanId = planID
				im.row(f.Name, "EnvironmentList["+strconv.Itoa(i)+"]", r)
			}
			for i, k := range res.AccessKeyList {
				im.key(f.Name, "AccessKeyList["+strconv.Itoa(i)+"]", k.AccessKeyId, k.SecretName, "", k.Status)
				im.bindKey(planID, k.AccessKeyId)
			}
		}
	}
	for i, k := range res.ApiKeySet {
		matched = true
		im.key(f.Name, "ApiKeySet["+strconv.Itoa(i)+"]", k.AccessKeyId, k.SecretName, k.AccessKeySecret, k.Status)
	}
	if res.UsagePlanId != "" {
		matched = true
		p := im.plan(f.Name, "Result", exportRow{UsagePlanId: res.UsagePlanId, UsagePlanName: res.UsagePlanName, UsagePlanDesc: res.UsagePlanDesc,
			MaxRequestNum: res.MaxRequestNum, MaxRequestNumPreSec: res.MaxRequestNumPreSec})
		for i, id := range res.BindSecretIds {
			im.key(f.Name, "Result.BindSecretIds["+strconv.Itoa(i)+"]", id, "", "", nil)
			im.bindKey(p.ID, id)
		}
		for i, b := range res.BindEnvironments {
			if b.ServiceId == "" {
				im.problem(f.Name, "Result.BindEnvironments["+strconv.Itoa(i)+"]", "no ServiceId; binding to %s not imported", b.EnvironmentName)
				continue
			}
			im.row(f.Name, "Result.BindEnvironments["+strconv.Itoa(i)+"]", exportRow{UsagePlanId: p.ID, ServiceId: b.ServiceId, Environment: b.EnvironmentName})
		}
	}
	if !matched {
		im.problem(f.Name, "Result", "not a response of a Describe action planguard imports")
	}
}

// row maps one (plan, service, environment, API?) row.
func (im *importer) row(file, path string, r exportRow) {
	if r.UsagePlanId == "" {
		im.problem(file, path, "no UsagePlanId")
		return
	}
	p := im.plan(file, path, r)
	if r.ServiceId == "" {
		return // a plan list row
	}
	if r.Environment == "" {
		im.problem(file, path, "binding of %s to %s has no Environment", p.ID, r.ServiceId)
		return
	}
	s := im.service(r.ServiceId, r.ServiceName)
	if !slices.Contains(s.Environments, r.Environment) {
		s.Environments = append(s.Environments, r.Environment)
	}
	if r.ApiId != "" {
		if !slices.ContainsFunc(s.APIs, func(a APIConfig) bool { return a.ID == r.ApiId }) {
			if r.Path == "" || r.Method == "" {
				im.problem(file, path, "API %s has no Path or Method; add it to service %s by hand", r.ApiId, s.ID)
			}
			s.APIs = append(s.APIs, APIConfig{ID: r.ApiId, Name: im.name(file, path+".ApiName", r.ApiName, r.ApiId), Method: strings.ToUpper(r.Method), Path: r.Path})
		}
	}
	for i := range p.Bindings {
		b := &p.Bindings[i]
		if b.Service != r.ServiceId || b.Environment != r.Environment {
			continue
		}
		switch {
		case r.ApiId == "" && b.APIs != nil:
			im.problem(file, path, "%s binds %s/%s both service-wide and per API in the export; kept per API", p.ID, r.ServiceId, r.Environment)
		case r.ApiId != "" && b.APIs == nil:
			// Already service-wide: covers the API.
		case r.ApiId != "" && !slices.Contains(b.APIs, r.ApiId):
			b.APIs = append(b.APIs, r.ApiId)
		}
		return
	}
	b := BindingConfig{Service: r.ServiceId, Environment: r.Environment}
	if r.ApiId != "" {
		b.APIs = []string{r.ApiId}
	}
	p.Bindings = append(p.Bindings, b)
}

// plan records one export entry of a plan. As with keys, the first
// entry that gives a value wins and a later one that disagrees is
// reported.
func (im *importer) plan(file, path string, r exportRow) *PlanConfig {
	p := im.plans[r.UsagePlanId]
	if p == nil {
		p = &PlanConfig{ID: r.UsagePlanId}
		im.plans[r.UsagePlanId] = p
	}
	if file != "" && im.planOrigin[p.ID] == "" {
		im.planOrigin[p.ID] = file + ": " + path
	}
	var diffs []string
	text := func(field string, dst *string, v string) {
		switch {
		case v == "":
		case *dst == "":
			*dst = v
		case *dst != v:
			diffs = append(diffs, fmt.Sprintf("%s %q (kept %q)", field, v, *dst))
		}
	}
	number := func(field string, dst **json.Number, v *int64) {
		if v == nil {
			return
		}
		n := json.Number(strconv.FormatInt(*v, 10))
		switch {
		case *dst == nil:
			*dst = &n
		case **dst != n:
			diffs = append(diffs, fmt.Sprintf("%s %s (kept %s)", field, n, **dst))
		}
	}
	text("UsagePlanName", &p.Name, r.UsagePlanName)
	text("UsagePlanDesc", &p.Description, r.UsagePlanDesc)
	number("MaxRequestNum", &p.Quota, r.MaxRequestNum)
	number("MaxRequestNumPreSec", &p.QPS, r.MaxRequestNumPreSec)
	if len(diffs) > 0 {
		im.problem(file, path, "plan %s: conflicts with %s: %s", p.ID, im.planOrigin[p.ID], strings.Join(diffs, ", "))
	}
	return p
}

func (im *importer) service(id, name string) *ServiceConfig {
	s := im.services[id]
	if s == nil {
		s = &ServiceConfig{ID: id, Environments: []string{}, APIs: []APIConfig{}}
		im.services[id] = s
	}
	if name != "" {
		s.Name = name
	}
	return s
}

// key records one export entry of a key. The first entry that gives a
// name, secret or status wins; a later entry that disagrees is reported
// (without the secrets), so that nothing is overwritten silently.
func (im *importer) key(file, path, id, name, secret string, status *int) {
	k := im.keys[id]
	if k == nil {
		k = &importedKey{cfg: KeyConfig{ID: id}, origin: file + ": " + path, file: file, path: path}
		im.keys[id] = k
	}
	var diffs []string
	if secret != "" {
		switch {
		case k.cfg.Secret == "" && k.badSecret == nil:
			if err := keys.ValidateSecret(keys.NewSecret(secret)); err != nil {
				k.badSecret, k.file, k.path = err, file, path
			} else {
				k.cfg.Secret = ConfigSecret(secret)
			}
		case string(k.cfg.Secret) != secret:
			diffs = append(diffs, "a different secret")
		}
	}
	if name != "" {
		if k.cfg.Name == "" {
			k.cfg.Name = name
		} else if k.cfg.Name != name {
			diffs = append(diffs, fmt.Sprintf("SecretName %q (kept %q)", name, k.cfg.Name))
		}
	}
	if status != nil {
		st := min(max(*status, 0), 1)
		if !k.statusSet {
			k.statusSet, k.status = true, st
			if st == 0 {
				k.cfg.Status = "disabled"
			}
		} else if k.status != st {
			diffs = append(diffs, fmt.Sprintf("Status %d (kept %d)", st, k.status))
		}
	}
	if len(diffs) > 0 {
		im.problem(file, path, "key %s: conflicts with %s: %s", id, k.origin, strings.Join(diffs, ", "))
	}
}

// secretEnvs names the secretEnv of every key that has no secret, each
// name distinct (see SecretEnvName), reporting the keys it renamed.
func (im *importer) secretEnvs() map[string]string {
	byName := map[string][]string{}
	taken := map[string]bool{}
	for id, k := range im.keys {
		if k.cfg.Secret == "" {
			byName[SecretEnvName(id)] = append(byName[SecretEnvName(id)], id)
		}
	}
	out := map[string]string{}
	for name, ids := range byName {
		if len(ids) == 1 {
			out[ids[0]] = name
			taken[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		ids := byName[name]
		if len(ids) == 1 {
			continue
		}
		slices.Sort(ids)
		for _, id := range ids {
			sum := sha256.Sum256([]byte(id))
			digits := hex.EncodeToString(sum[:])
			n := 8
			for taken[name+"_"+digits[:n]] {
				n++
			}
			out[id] = name + "_" + digits[:n]
			taken[out[id]] = true
			im.problem("key "+id, "secretEnv", "%s is shared by %s; imported as %s", name, strings.Join(ids, ", "), out[id])
		}
	}
	return out
}

func (im *importer) bindKey(planID, keyID string) {
	p := im.plans[planID]
	if p == nil {
		p = im.plan("", "", exportRow{UsagePlanId: planID})
	}
	if !slices.Contains(p.Keys, keyID) {
		p.Keys = append(p.Keys, keyID)
	}
}

var invalidNameChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

// name returns n if it is a valid name, or a valid one derived from
// it (or from fallback), reporting the change.
func (im *importer) name(file, path, n, fallback string) string {
	if nameReason(n) == "" {
		return n
	}
	fixed := invalidNameChars.ReplaceAllString(n, "_")
	if strings.Trim(fixed, "_") == "" {
		fixed = invalidNameChars.ReplaceAllString(fallback, "_")
	}
	if len(fixed) > MaxNameLen {
		fixed = fixed[:MaxNameLen]
	}
	im.problem(file, path, "name %q is not 1–%d of [A-Za-z0-9_]; imported as %q", n, MaxNameLen, fixed)
	return fixed
}

// finish orders the Config by ID, fills secretEnv for keys without a
// secret, and fixes names.
func (im *importer) finish() {
	for _, id := range slices.Sorted(maps.Keys(im.services)) {
		s := im.services[id]
		s.Name = im.name("service "+id, "ServiceName", s.Name, id)
		im.cfg.Services = append(im.cfg.Services, *s)
	}
	envs := im.secretEnvs()
	for _, id := range slices.Sorted(maps.Keys(im.keys)) {
		k := im.keys[id]
		k.cfg.Name = im.name("key "+id, "SecretName", k.cfg.Name, id)
		if k.cfg.Secret == "" {
			k.cfg.SecretEnv = envs[id]
		}
		if k.badSecret != nil && k.cfg.Secret == "" {
			im.problem(k.file, k.path, "key %s: the secret is not valid in planguard (%v); imported with secretEnv %s", id, k.badSecret, k.cfg.SecretEnv)
		}
		im.cfg.Keys = append(im.cfg.Keys, k.cfg)
	}
	for _, id := range slices.Sorted(maps.Keys(im.plans)) {
		p := im.plans[id]
		p.Name = im.name("plan "+id, "UsagePlanName", p.Name, id)
		im.cfg.Plans = append(im.cfg.Plans, *p)
	}
}
