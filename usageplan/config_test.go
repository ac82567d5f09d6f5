package usageplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func testOptions() RegistryConfig {
	return RegistryConfig{
		Now: func() time.Time { return t0 },
		LookupEnv: func(name string) (string, bool) {
			if name == "PARTNER_SECRET" {
				return "partner-secret-0001", true
			}
			return "", false
		},
	}
}

func loadString(t *testing.T, doc string) (*Registry, error) {
	t.Helper()
	return LoadConfig(strings.NewReader(doc), testOptions())
}

func specRegistry(t *testing.T) *Registry {
	t.Helper()
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	reg, err := LoadConfig(bytes.NewReader(data), testOptions())
	require.NoError(t, err)
	return reg
}

func TestSpecExampleLoadsAndRoundTrips(t *testing.T) {
	reg := specRegistry(t)
	snap := reg.Snapshot()

	plan, ok := snap.Plan("usagePlan-kgf82zcd")
	require.True(t, ok)
	assert.Equal(t, int64(1000), plan.QPS)
	assert.Equal(t, int64(100000), plan.Quota)
	assert.Equal(t, limiter.Month, plan.QuotaPeriod)
	loc, _ := snap.PlanLocation(plan.ID)
	assert.Equal(t, "Asia/Shanghai", loc.String())
	assert.Equal(t, t0, plan.Created)

	partner, ok := snap.Key("partner_key_1")
	require.True(t, ok)
	assert.Equal(t, keys.Disabled, partner.Status)
	assert.Equal(t, "partner-secret-0001", partner.Secret.Reveal())

	var first bytes.Buffer
	require.NoError(t, reg.Export(&first))
	assert.Contains(t, first.String(), `"secretEnv": "PARTNER_SECRET"`)
	assert.NotContains(t, first.String(), "partner-secret-0001", "a secret from the environment is not written out")

	again, err := LoadConfig(bytes.NewReader(first.Bytes()), testOptions())
	require.NoError(t, err)
	assert.Equal(t, snap.model(), again.Snapshot().model(), "load→export→load gives the same registry")
	var second bytes.Buffer
	require.NoError(t, again.Export(&second))
	assert.Equal(t, first.String(), second.String(), "export is stable")
}

func TestConflictingPlansAreRefusedWithPath(t *testing.T) {
	_, err := loadString(t, `{
	  "services": [{"id": "service-abcd1234", "name": "orders", "environments": ["release"], "apis": []}],
	  "keys": [{"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "k", "secret": "0123456789"}],
	  "plans": [
	    {"id": "usagePlan-aaaaaaaa", "name": "a", "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
	     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},
	    {"id": "usagePlan-bbbbbbbb", "name": "b", "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
	     "bindings": [{"service": "service-abcd1234", "environment": "release"}]}
	  ]}`)
	require.Error(t, err)
	assert.Equal(t, "plans[1].bindings[0]: usagePlan-bbbbbbbb and usagePlan-aaaaaaaa both bind key AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN to service-abcd1234/release", err.Error())
	var c *binding.Conflict
	require.ErrorAs(t, err, &c)
	assert.Equal(t, "usagePlan-aaaaaaaa", c.Other)
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := loadString(t, `{
	  "services": [
	    {"id": "service-ABCD", "name": "bad name", "environments": ["release", "release", "Bad"],
	     "apis": [
	       {"id": "api-aaaaaaaa", "name": "a", "method": "FETCH", "path": "orders"},
	       {"id": "api-aaaaaaaa", "name": "b", "method": "GET", "path": "/x/{id}", "auth": "maybe"},
	       {"id": "api-cccccccc", "name": "c", "method": "GET", "path": "/x/{name}"},
	       {"id": "api-dddddddd", "name": "d", "method": "GET", "path": "/y/{a"}
	     ]},
	    {"id": "service-abcd1234", "name": "ok", "environments": ["release"], "apis": [{"id": "api-eeeeeeee", "name": "e", "method": "GET", "path": "/e"}]},
	    {"id": "service-abcd1234", "name": "dup", "environments": []}
	  ],
	  "keys": [
	    {"id": "k1", "name": "short", "secret": "0123456789"},
	    {"id": "key01", "name": "both", "secret": "0123456789", "secretEnv": "X"},
	    {"id": "key02", "name": "neither"},
	    {"id": "key03", "name": "unset", "secretEnv": "NOT_SET"},
	    {"id": "key03", "name": "dup", "secret": "0123456789", "status": "paused"},
	    {"id": "key04", "name": "short_secret", "secret": "123"}
	  ],
	  "plans": [
	    {"id": "usagePlan-aaaaaaaa", "name": "a", "qps": 0, "quota": -2, "quotaPeriod": "year", "timeZone": "Mars/Olympus",
	     "keys": ["nokey", "key04", "key04"],
	     "bindings": [
	       {"service": "service-nothere", "environment": "release"},
	       {"service": "service-abcd1234", "environment": "prepub"},
	       {"service": "service-abcd1234", "environment": "release", "apis": ["api-zzzzzzzz"]},
	       {"service": "service-abcd1234", "environment": "release", "apis": []}
	     ]},
	    {"id": "usagePlan-bbbbbbbb", "name": "b", "qps": 1.5, "quota": 100000000, "description": "`+strings.Repeat("d", 201)+`"},
	    {"id": "usagePlan-cccccccc", "name": "c", "qps": 99999999999999999999, "quota": 1e3},
	    {"id": "usagePlan-cccccccc", "name": "c2", "qps": 2001}
	  ]}`)
	require.Error(t, err)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	paths := map[string]bool{}
	for _, p := range ve.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{
		"services[0].id", "services[0].name", "services[0].environments[1]", "services[0].environments[2]",
		"services[0].apis[0].method", "services[0].apis[0].path", "services[0].apis[1].id", "services[0].apis[1].auth",
		"services[0].apis[2].path", "services[0].apis[3].path", "services[2].id",
		"keys[0].id", "keys[1]", "keys[2]", "keys[3].secretEnv", "keys[4].id", "keys[4].status", "keys[5].secret",
		"plans[0].qps", "plans[0].quota", "plans[0].quotaPeriod", "plans[0].timeZone", "plans[0].keys[0]", "plans[0].keys[2]",
		"plans[0].bindings[0]", "plans[0].bindings[1]", "plans[0].bindings[2].apis[0]", "plans[0].bindings[3].apis",
		"plans[1].qps", "plans[1].quota", "plans[1].description",
		"plans[2].qps", "plans[2].quota", "plans[3].id", "plans[3].qps",
	} {
		assert.True(t, paths[want], "no problem reported at %s; got:\n%v", want, err)
	}
	assert.NotContains(t, err.Error(), "0123456789", "secrets never appear in errors")
	assert.NotContains(t, err.Error(), `"123"`)
}

func TestTypeErrorsAndUnknownFieldsAreAllReported(t *testing.T) {
	_, err := loadString(t, `{
	  "services": [{"id": 7, "name": "x", "environments": "release", "apis": [{"id": "api-aaaaaaaa", "verb": "GET"}]}],
	  "keys": {"id": "x"},
	  "plans": [{"id": "usagePlan-aaaaaaaa", "name": "a", "qps": "10", "quota": true, "keys": [1]}],
	  "extra": 1
	}`)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"services[0].id: must be a string, got a number",
		"services[0].environments: must be an array, got a string",
		`services[0].apis[0].verb: unknown field "verb"`,
		"keys: must be an array, got an object",
		"plans[0].qps: must be a number, got a string",
		"plans[0].quota: must be a number, got a boolean",
		"plans[0].keys[0]: must be a string, got a number",
		`extra: unknown field "extra"`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestFieldNamesAreCaseSensitive(t *testing.T) {
	_, err := loadString(t, `{"services": [], "keys": [], "plans": [], "Services": []}`)
	require.ErrorContains(t, err, `unknown field "Services"`)
}

func TestBadJSON(t *testing.T) {
	for _, doc := range []string{``, `{`, `{"services": []} {}`, `[]`, `null`, `"x"`} {
		_, err := loadString(t, doc)
		require.Error(t, err, doc)
	}
}

func TestSecretEnvIsValidated(t *testing.T) {
	opts := testOptions()
	opts.LookupEnv = func(string) (string, bool) { return "short", true }
	_, err := LoadConfig(strings.NewReader(`{"keys": [{"id": "key01", "name": "k", "secretEnv": "S"}]}`), opts)
	require.ErrorContains(t, err, "keys[0].secretEnv: environment variable S")
	require.NotContains(t, err.Error(), "short")
}

func TestFailedLoadLeavesRegistryUnchanged(t *testing.T) {
	reg := specRegistry(t)
	before := reg.Snapshot()
	err := reg.Load(strings.NewReader(`{"plans": [{"id": "usagePlan-x", "name": "bad"}]}`))
	require.Error(t, err)
	require.Same(t, before, reg.Snapshot())
}

func TestReloadKeepsTimesOfUnchangedEntities(t *testing.T) {
	now := t0
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	data, _ := os.ReadFile("testdata/spec.json")
	reg, err := LoadConfig(bytes.NewReader(data), opts)
	require.NoError(t, err)

	now = t0.Add(time.Hour)
	changed := strings.Replace(string(data), `"qps": 1000`, `"qps": 500`, 1)
	require.NoError(t, reg.Load(strings.NewReader(changed)))
	p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd")
	require.Equal(t, t0, p.Created)
	require.Equal(t, now, p.Modified)
	k, _ := reg.Snapshot().Key("AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN")
	require.Equal(t, t0, k.Modified, "an unchanged key keeps its modified time")
}

// The quota period is the limiter's Period: a configuration's word is
// parsed once, with one problem at its JSON path for a word that is not
// a period, and the plan holds the limiter's constant; a Plan built in Go
// with a Period beyond the limiter's is refused at quotaPeriod.
func TestQuotaPeriodIsTheLimiters(t *testing.T) {
	for word, want := range map[string]limiter.Period{"": limiter.Total, "total": limiter.Total, "day": limiter.Day, "week": limiter.Week, "month": limiter.Month} {
		reg, err := loadString(t, `{"plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "quota": 10, "quotaPeriod": "`+word+`"}]}`)
		require.NoError(t, err, word)
		p, ok := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
		require.True(t, ok)
		require.Equal(t, want, p.QuotaPeriod, word)
		var out bytes.Buffer
		require.NoError(t, reg.Export(&out))
		require.Contains(t, out.String(), `"quotaPeriod": "`+want.String()+`"`, "export writes the period's word")
	}

	_, err := loadString(t, `{"plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "quota": 10, "quotaPeriod": "Day"}]}`)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Problems, 1, "one problem, not one from decoding and another from validation: %v", err)
	require.Equal(t, "plans[0].quotaPeriod", ve.Problems[0].Path)
	require.ErrorContains(t, ve.Problems[0], `must be "total", "day", "week" or "month", got "Day"`)

	reg := newTestRegistry(t)
	_, err = reg.CreatePlan(Plan{Name: "odd", QPS: 1, Quota: 1, QuotaPeriod: limiter.Month + 1})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "quotaPeriod")
}

// A problem's message quotes the document's strings and numbers on one
// line, bounded: a secretEnv holding a newline cannot forge a problem
// line of its own, and a number of 100,000 digits is not echoed whole.
func TestProblemsQuoteTheDocumentOnOneLine(t *testing.T) {
	long := strings.Repeat("9", 100_000)
	_, err := loadString(t, `{"services": [], "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 1.`+long+`}],
	  "keys": [{"id": "AKIDkey00000000000001", "name": "k", "secretEnv": "NO_SUCH\nplans[9].qps: forged"}],
	  "x\nplans[9].quota: forged too": 1, "`+strings.Repeat("y", 100_000)+`": 2}`)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(ve.Problems), "one line a problem:\n%v", err)
	for _, l := range lines {
		require.False(t, strings.HasPrefix(l, "plans[9]"), "a forged line: %q", l)
		require.LessOrEqual(t, len(l), 1100, "an unbounded line") // a path and a message, 500 bytes each at most
	}
	require.Contains(t, err.Error(), `NO_SUCH\nplans[9].qps: forged is not set`)
}

// A Config printed or logged shows no secret; written as JSON (a config
// file, Export) it holds them, and reads back the same.
func TestConfigSecretsDoNotPrint(t *testing.T) {
	reg := specRegistry(t)
	cfg := reg.Snapshot().Config()
	var secrets []string
	for _, k := range cfg.Keys {
		if k.Secret != "" {
			secrets = append(secrets, string(k.Secret))
		}
	}
	require.NotEmpty(t, secrets)
	var text, asJSON strings.Builder
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&asJSON, nil)} {
		slog.New(h).Info("config", "cfg", cfg, "value", *cfg, "key", cfg.Keys[0], "secret", cfg.Keys[0].Secret)
	}
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg.Keys[0].Secret, cfg.Keys[0].Secret), fmt.Sprint(cfg.Keys), text.String(), asJSON.String()} {
		for _, s := range secrets {
			require.NotContains(t, out, s)
		}
		require.Contains(t, out, "[REDACTED]")
	}
	data, err := json.Marshal(cfg)
	require.NoError(t, err)
	for _, s := range secrets {
		require.Contains(t, string(data), `"secret":"`+s+`"`)
	}
	again, err := LoadConfig(bytes.NewReader(data), testOptions())
	require.NoError(t, err)
	require.Equal(t, cfg, again.Snapshot().Config())
}
