// Command import turns saved responses of the old gateway's Describe
// actions into a planguard config, so a migrating team does not retype
// its plans:
//
//	go run ./examples/import DescribeApiUsagePlan.json DescribeApiKeysStatus.json \
//	    DescribeUsagePlanSecretIds.json=usagePlan-quqxvett > planguard.json
//
// FILE=usagePlan-… names the plan of a response that does not name it
// (DescribeUsagePlanEnvironments, DescribeUsagePlanSecretIds). The config
// goes to standard output; what could not be mapped goes to standard
// error, and the exit code is 3 when there was any: names made valid,
// two exports that disagree about a key (the first is kept), a secret
// planguard would refuse (the key gets a secretEnv instead). Keys whose
// secret is not in the export get a secretEnv (PLANGUARD_SECRET_<ID>);
// keys whose IDs give the same name (partner-a, partner_a, Partner_A) each
// get the name plus '_' and 8 hex digits of their ID's SHA-256, and that
// is reported too, so that no two keys ever read one variable.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/planguard/planguard/usageplan"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: import FILE[=usagePlan-ID]...")
		return 2
	}
	var files []usageplan.ExportFile
	for _, a := range args {
		path, plan, _ := strings.Cut(a, "=")
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "import:", err)
			return 1
		}
		files = append(files, usageplan.ExportFile{Name: filepath.Base(path), Data: data, UsagePlanId: plan})
	}
	cfg, report := usageplan.Import(files)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		fmt.Fprintln(stderr, "import:", err)
		return 1
	}
	for _, p := range report.Problems {
		fmt.Fprintln(stderr, "import:", p.Error())
	}
	if len(report.Problems) > 0 {
		return 3
	}
	return 0
}
