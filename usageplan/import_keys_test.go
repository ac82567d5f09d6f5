package usageplan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func problemText(r *ImportReport) string {
	var msgs []string
	for _, p := range r.Problems {
		msgs = append(msgs, p.Error())
	}
	return strings.Join(msgs, "\n")
}

// Keys whose IDs differ only in case or in '-' and '_' get distinct
// secretEnv names, and the report says which were renamed.
func TestImportGivesDistinctKeysDistinctSecretEnvs(t *testing.T) {
	cfg, report := Import([]ExportFile{{Name: "keys.json", Data: []byte(`{"Response": {"Result": {"ApiKeySet": [
		{"AccessKeyId": "partner-a", "SecretName": "a1", "Status": 1},
		{"AccessKeyId": "partner_a", "SecretName": "a2", "Status": 1},
		{"AccessKeyId": "Partner_A", "SecretName": "a3", "Status": 1},
		{"AccessKeyId": "partner_b", "SecretName": "b", "Status": 1}
	]}}}`)}})
	envs := map[string]string{}
	for _, k := range cfg.Keys {
		require.NotEmpty(t, k.SecretEnv, k.ID)
		if other, dup := envs[k.SecretEnv]; dup {
			t.Errorf("%s and %s share %s", other, k.ID, k.SecretEnv)
		}
		envs[k.SecretEnv] = k.ID
	}
	require.Len(t, envs, 4)
	assert.Equal(t, "partner_b", envs["PLANGUARD_SECRET_PARTNER_B"], "a name nobody shares is kept")
	all := problemText(report)
	for _, id := range []string{"partner-a", "partner_a", "Partner_A"} {
		assert.Contains(t, all, "key "+id+": secretEnv: PLANGUARD_SECRET_PARTNER_A is shared by")
	}
	assert.NotContains(t, all, "partner_b")

	// Each key loads with its own secret.
	secrets := map[string]string{}
	for env, id := range envs {
		secrets[env] = "secret-of-" + strings.ReplaceAll(id, "-", "_")
	}
	opts := testOptions()
	opts.LookupEnv = func(name string) (string, bool) { v, ok := secrets[name]; return v, ok }
	reg := NewRegistry(opts)
	require.NoError(t, reg.ApplyConfig(cfg))
	a, _ := reg.Key("partner-a")
	b, _ := reg.Key("Partner_A")
	assert.False(t, a.Secret.Equal(b.Secret))
}

// Two exports that disagree about a key are reported (the first is kept),
// and so is a secret that planguard would refuse; no secret is printed.
func TestImportReportsConflictsAndInvalidSecrets(t *testing.T) {
	cfg, report := Import([]ExportFile{
		{Name: "a.json", Data: []byte(`{"ApiKeySet": [
			{"AccessKeyId": "partner_key_1", "AccessKeySecret": "first-secret-0001", "SecretName": "partner", "Status": 1},
			{"AccessKeyId": "short_key_1", "AccessKeySecret": "tiny", "SecretName": "short", "Status": 1},
			{"AccessKeyId": "odd_key_01", "AccessKeySecret": "has spaces in it!", "SecretName": "odd", "Status": 1}
		]}`)},
		{Name: "b.json", Data: []byte(`{"ApiKeySet": [
			{"AccessKeyId": "partner_key_1", "AccessKeySecret": "second-secret-002", "SecretName": "other", "Status": 0}
		]}`)},
	})
	all := problemText(report)
	assert.Contains(t, all, "b.json: ApiKeySet[0]: key partner_key_1: conflicts with a.json: ApiKeySet[0]: a different secret, SecretName \"other\" (kept \"partner\"), Status 0 (kept 1)")
	assert.Contains(t, all, "a.json: ApiKeySet[1]: key short_key_1: the secret is not valid in planguard (keys: secret must be 10–50 characters long, got 4); imported with secretEnv PLANGUARD_SECRET_SHORT_KEY_1")
	assert.Contains(t, all, "a.json: ApiKeySet[2]: key odd_key_01: the secret is not valid in planguard")
	for _, s := range []string{"first-secret-0001", "second-secret-002", "tiny", "has spaces"} {
		assert.NotContains(t, all, s, "secrets never appear in reports")
	}
	byID := map[string]KeyConfig{}
	for _, k := range cfg.Keys {
		byID[k.ID] = k
	}
	assert.Equal(t, ConfigSecret("first-secret-0001"), byID["partner_key_1"].Secret, "the first entry is kept")
	assert.Equal(t, "partner", byID["partner_key_1"].Name)
	assert.Equal(t, "", byID["partner_key_1"].Status)
	assert.Equal(t, "PLANGUARD_SECRET_SHORT_KEY_1", byID["short_key_1"].SecretEnv)
	assert.Empty(t, byID["short_key_1"].Secret)
}

// Two exports that disagree about a plan's name or limits are reported;
// the first is kept.
func TestImportReportsPlanConflicts(t *testing.T) {
	cfg, report := Import([]ExportFile{
		{Name: "a.json", Data: []byte(`{"UsagePlanStatusSet": [{"UsagePlanId": "usagePlan-aaaaaaaa", "UsagePlanName": "gold", "MaxRequestNum": 100, "MaxRequestNumPreSec": 10}]}`)},
		{Name: "b.json", Data: []byte(`{"UsagePlanStatusSet": [{"UsagePlanId": "usagePlan-aaaaaaaa", "UsagePlanName": "gold", "MaxRequestNum": 500, "MaxRequestNumPreSec": 10}]}`)},
	})
	assert.Equal(t, `b.json: UsagePlanStatusSet[0]: plan usagePlan-aaaaaaaa: conflicts with a.json: UsagePlanStatusSet[0]: MaxRequestNum 500 (kept 100)`, problemText(report))
	require.Len(t, cfg.Plans, 1)
	assert.Equal(t, "100", cfg.Plans[0].Quota.String())
}
