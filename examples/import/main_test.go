package main

import (
	"bytes"
	"strings"
	"testing"

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
	opts := usageplan.Options{LookupEnv: func(string) (string, bool) { return "restored-secret", true }}
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
