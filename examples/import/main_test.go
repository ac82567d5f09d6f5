package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/usageplan"
)

func TestImportWritesLoadableConfig(t *testing.T) {
	var out, errs bytes.Buffer
	code := run([]string{
		"../../usageplan/testdata/export/DescribeApiKeysStatus.json",
		"../../usageplan/testdata/export/DescribeUsagePlansStatus.json",
		"../../usageplan/testdata/export/DescribeServiceUsagePlan-service-ody35h5e.json",
		"../../usageplan/testdata/export/DescribeUsagePlanSecretIds-usagePlan-quqxvett.json",
	}, &out, &errs)
	if code != 3 || !strings.Contains(errs.String(), `name "免费"`) {
		t.Fatalf("exit %d, stderr:\n%s", code, errs.String())
	}
	opts := usageplan.RegistryConfig{LookupEnv: func(string) (string, bool) { return "restored-secret", true }}
	if _, err := usageplan.LoadConfig(&out, opts); err != nil {
		t.Fatalf("the imported config does not load: %v", err)
	}
	if code := run([]string{"/nonexistent.json"}, &out, &errs); code != 1 {
		t.Fatalf("missing file: exit %d", code)
	}
	if code := run(nil, &out, &errs); code != 2 {
		t.Fatalf("no args: exit %d", code)
	}
}

// Keys whose IDs map to one secretEnv name get distinct names, the
// import says so and exits 3, and the config loads with one secret each.
func TestImportDisambiguatesSecretEnvs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "DescribeApiKeysStatus.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"Response": {"Result": {"TotalCount": 3, "ApiKeySet": [
		{"AccessKeyId": "partner-a", "SecretName": "a1", "Status": 1},
		{"AccessKeyId": "partner_a", "SecretName": "a2", "Status": 1},
		{"AccessKeyId": "Partner_A", "SecretName": "a3", "Status": 1}]}}}`), 0o600))
	var out, errs bytes.Buffer
	code := run([]string{path}, &out, &errs)
	require.Equal(t, 3, code, errs.String())
	require.Equal(t, 3, strings.Count(errs.String(), "PLANGUARD_SECRET_PARTNER_A is shared by Partner_A, partner-a, partner_a"), errs.String())

	var cfg usageplan.Config
	require.NoError(t, json.Unmarshal(out.Bytes(), &cfg))
	seen := map[string]bool{}
	for _, k := range cfg.Keys {
		require.False(t, seen[k.SecretEnv], "%s shares %s", k.ID, k.SecretEnv)
		seen[k.SecretEnv] = true
	}
	opts := usageplan.RegistryConfig{LookupEnv: func(name string) (string, bool) { return "secret-" + name[len(name)-8:], true }}
	reg, err := usageplan.LoadConfig(&out, opts)
	require.NoError(t, err)
	a, _ := reg.Key("partner-a")
	b, _ := reg.Key("partner_a")
	require.False(t, a.Secret.Equal(b.Secret), "one tenant's secret does not sign as another's")
}
