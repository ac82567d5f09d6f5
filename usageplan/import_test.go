package usageplan

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exportFiles(t *testing.T) []ExportFile {
	paths, err := filepath.Glob("testdata/export/*.json")
	require.NoError(t, err)
	var files []ExportFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		files = append(files, ExportFile{Name: filepath.Base(p), Data: data})
	}
	return files
}

func TestImportReportsWhatItCannotMap(t *testing.T) {
	cfg, report := Import(exportFiles(t))
	require.NotNil(t, cfg)
	var msgs []string
	for _, p := range report.Problems {
		msgs = append(msgs, p.Error())
	}
	all := strings.Join(msgs, "\n")
	assert.Contains(t, all, "api-broken01 has no Path or Method")
	assert.Contains(t, all, `name "免费" is not 1–50 of [A-Za-z0-9_]`)
	assert.Contains(t, all, `name "old-partner"`)
	assert.Contains(t, all, "DescribeUsagePlanEnvironments.json: Result: the response does not name its usage plan")
	assert.NotContains(t, all, "qYSyjJAn6BNAmoRpFs93HhtchFCGy4K3zrC2WjR", "secrets never appear in reports")

	var partner KeyConfig
	for _, k := range cfg.Keys {
		if k.ID == "partner_key_1" {
			partner = k
		}
	}
	assert.Equal(t, "PLANGUARD_SECRET_PARTNER_KEY_1", partner.SecretEnv)
	assert.Equal(t, "disabled", partner.Status)
}

// Import → load → Describe reproduces the exported plans and bindings.
func TestImportLoadDescribe(t *testing.T) {
	files := exportFiles(t)
	var usable []ExportFile
	for _, f := range files {
		if f.Name == "DescribeUsagePlanEnvironments.json" {
			f.UsagePlanId = "usagePlan-quqxvett" // what the operator knows
		}
		if strings.HasPrefix(f.Name, "DescribeApiUsagePlan") { // drop the row without a path
			f.Data = []byte(strings.Replace(string(f.Data), `"Path": null, "Method": null`, `"Path": "/mystery", "Method": "GET"`, 1))
		}
		usable = append(usable, f)
	}
	cfg, _ := Import(usable)
	opts := testOptions()
	opts.LookupEnv = func(name string) (string, bool) { return "restored-secret-" + name[len(name)-4:], true }
	reg := NewRegistry(opts)
	require.NoError(t, reg.ApplyConfig(cfg))
	d := Describer{Snapshot: reg.Snapshot()}

	set, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-ody35h5e", Page: Page{Limit: 100}})
	require.NoError(t, err)
	var got []string
	for _, r := range set.ApiUsagePlanList {
		got = append(got, strings.Join([]string{r.UsagePlanId, r.Environment, r.ApiId, r.Path, r.Method,
			strconv.FormatInt(r.MaxRequestNum, 10), strconv.FormatInt(r.MaxRequestNumPreSec, 10)}, " "))
	}
	assert.Equal(t, []string{
		"usagePlan-3datbg1f release    -1 -1",
		"usagePlan-quqxvett prepub api-broken01 /mystery GET 5000 100",
		"usagePlan-quqxvett release    5000 100",
		"usagePlan-quqxvett test api-e92i2jds /users POST 5000 100",
		"usagePlan-quqxvett test api-k3k3k3k3 /users/{id} GET 5000 100",
	}, got)

	secrets, err := d.UsagePlanSecretIds(ctx, "usagePlan-quqxvett", Page{})
	require.NoError(t, err)
	require.Equal(t, 2, secrets.TotalCount)
	k, ok := reg.Snapshot().Key("AKIDexported0000000000000000000000000000")
	require.True(t, ok)
	assert.Equal(t, "qYSyjJAn6BNAmoRpFs93HhtchFCGy4K3zrC2WjR", k.Secret.Reveal(), "a secret in the export is kept")
	info, err := d.UsagePlan(ctx, "usagePlan-3datbg1f")
	require.NoError(t, err)
	assert.Equal(t, []string{"free_key_01"}, info.BindSecretIds)
}

func TestImportBadFiles(t *testing.T) {
	_, report := Import([]ExportFile{
		{Name: "a.json", Data: []byte(`not json`)},
		{Name: "b.json", Data: []byte(`{"Response": {"Error": {"Code": "AuthFailure", "Message": "x"}}}`)},
		{Name: "c.json", Data: []byte(`{"Response": {"Result": {"Something": 1}}}`)},
	})
	require.Len(t, report.Problems, 3)
}
