package usageplan

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

// Editing a Config handed out by a snapshot never reaches the registry:
// every slice of it is the caller's own.
func TestEditingHandedOutConfigLeavesRegistryAlone(t *testing.T) {
	reg := specRegistry(t)
	before := reg.Snapshot()
	var want bytes.Buffer
	require.NoError(t, reg.Export(&want))

	cfg := before.Config()
	cfg.Plans[0].Keys = slices.DeleteFunc(cfg.Plans[0].Keys, func(string) bool { return true })
	cfg.Plans[0].Bindings[1].APIs[0] = "api-hlth0001"
	cfg.Services[0].Environments[0] = "prepub"
	cfg.Services[0].APIs[0].Path = "/changed"

	var got bytes.Buffer
	require.NoError(t, reg.Export(&got))
	assert.Equal(t, want.String(), got.String(), "the export does not see the edits")
	_, err := LoadConfig(bytes.NewReader(got.Bytes()), testOptions())
	require.NoError(t, err, "the export loads")
	require.NoError(t, reg.DisableKey("AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"), "later changes still validate")
}

// A Config taken in by Apply is copied: editing it afterwards changes
// neither routing nor plans.
func TestEditingAppliedConfigLeavesRegistryAlone(t *testing.T) {
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	cfg, ps := decodeConfig(data)
	require.Empty(t, ps.list)
	reg := NewRegistry(testOptions())
	require.NoError(t, reg.ApplyConfig(cfg))
	var want bytes.Buffer
	require.NoError(t, reg.Export(&want))

	cfg.Services[0].Environments[0] = "prepub" // the service was never published there
	cfg.Plans[0].Keys[0] = "partner_key_1"
	cfg.Plans[0].Bindings[1].APIs[0] = "api-list0001"

	var got bytes.Buffer
	require.NoError(t, reg.Export(&got))
	assert.Equal(t, want.String(), got.String())
	s, _ := reg.Snapshot().Service("service-abcd1234")
	assert.False(t, s.HasEnvironment("prepub"))
	_, err = reg.Snapshot().Explain(Request{Service: "service-abcd1234", Environment: "prepub", Method: "GET", Path: "/health"})
	require.ErrorIs(t, err, ErrNotPublished, "the auth-NONE API is not served where the service was never published")
	assert.Equal(t, []string{"AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"}, slices.Collect(reg.Snapshot().PlanKeys("usagePlan-kgf82zcd")))
}

// Every accessor that hands out slices hands out copies.
func TestSnapshotAccessorsHandOutCopies(t *testing.T) {
	reg := specRegistry(t)
	snap := reg.Snapshot()
	var want bytes.Buffer
	require.NoError(t, reg.Export(&want))

	snap.Services()[0].Environments[0] = "prepub"
	snap.Services()[0].APIs[0].Auth = AuthNone
	snap.Keys()[0].Status = keys.Disabled
	snap.Plans()[0].Bindings[0].Environment = "prepub"
	s, _ := snap.Service("service-abcd1234")
	s.Environments[1] = "prepub"
	s.APIs[1].Path = "/x"
	p, _ := snap.Plan("usagePlan-kgf82zcd")
	p.Bindings[1].APIs[0] = "api-list0001"

	var got bytes.Buffer
	require.NoError(t, reg.Export(&got))
	assert.Equal(t, want.String(), got.String())
	s, _ = snap.Service("service-abcd1234")
	assert.Equal(t, []string{"release", "test"}, s.Environments)
	assert.Equal(t, AuthSecret, s.APIs[0].Auth)
}

// Reloading an unchanged config keeps the modification time of a key
// that has signed a request (its secret's HMAC state is filled lazily).
func TestReloadKeepsTimesOfKeysThatSigned(t *testing.T) {
	now := t0
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	reg, err := LoadConfig(bytes.NewReader(data), opts)
	require.NoError(t, err)

	const id = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	k, _ := reg.Key(id)
	req := httptest.NewRequest(http.MethodGet, "http://localhost/orders", nil)
	s := keys.Signer{ID: id, Secret: k.Secret}
	require.NoError(t, s.SignAt(req, t0))
	v, err := keys.NewVerifier(reg, keys.VerifierConfig{})
	require.NoError(t, err)
	_, err = v.VerifyAt(req, t0)
	require.NoError(t, err)

	now = t0.Add(time.Hour)
	require.NoError(t, reg.Load(bytes.NewReader(data)))
	k, _ = reg.Key(id)
	assert.Equal(t, t0, k.Modified, "an unchanged key keeps its modified time")
	p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd")
	assert.Equal(t, t0, p.Modified, "an unchanged plan keeps its modified time")

	now = t0.Add(2 * time.Hour)
	rotated := strings.Replace(string(data), "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC", "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrD", 1)
	require.NoError(t, reg.Load(strings.NewReader(rotated)))
	k, _ = reg.Key(id)
	assert.Equal(t, now, k.Modified, "a new secret is a change")
}

// Explain's plan is a copy too.
func TestExplainHandsOutACopy(t *testing.T) {
	reg := specRegistry(t)
	snap := reg.Snapshot()
	ex, err := snap.Explain(Request{Service: "service-abcd1234", Environment: "release", Method: "GET", Path: "/orders",
		Key: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"})
	require.NoError(t, err)
	ex.Plan.Bindings[1].APIs[0] = "api-list0001"
	p, _ := snap.Plan("usagePlan-kgf82zcd")
	assert.Equal(t, []string{"api-get00001"}, p.Bindings[1].APIs)
}
