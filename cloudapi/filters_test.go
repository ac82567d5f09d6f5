package cloudapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// TestFilterValuesBounded: each Describe*Status filter value is matched
// against every key (AccessKeySecret in constant time), so a request
// with ~60,000 values over 10,000 keys cost 6e8 comparisons. Filters
// are bounded: more than MaxFilterValues values, or more than MaxFilters
// filters, answer InvalidParameterValue at once; at the bounds the
// request is served.
func TestFilterValuesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 keys")
	}
	var b strings.Builder
	b.WriteString(`{"services":[],"keys":[`)
	for i := range 10000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"key_%06d","name":"k%d","secret":"secret_%06d_abcdef"}`, i, i, i)
	}
	b.WriteString(`],"plans":[]}`)
	reg, err := usageplan.LoadConfig(strings.NewReader(b.String()), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(reg, []Credential{{SecretID: readerID, SecretKey: keys.NewSecret(readerSec), ReadOnly: true}},
		Config{Hosts: []string{testHost}, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	values := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf("zz%05d", i)
		}
		return v
	}
	ask := func(action string, fs []Filter) envelope {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"Filters": fs})
		if len(body) > MaxBodyBytes {
			t.Fatalf("body %d bytes", len(body))
		}
		return do(t, h, req{id: readerID, secret: readerSec, action: action, body: string(body)}.build())
	}
	for _, tc := range []struct {
		action string
		fs     []Filter
		want   string
	}{
		{"DescribeApiKeysStatus", []Filter{{Name: "AccessKeySecret", Values: values(60000)}}, "lists 60000 Values; at most 100"},
		{"DescribeApiKeysStatus", []Filter{{Name: "KeyWord", Values: values(MaxFilterValues + 1)}}, "at most 100"},
		{"DescribeUsagePlansStatus", []Filter{{Name: "UsagePlanName", Values: values(MaxFilterValues + 1)}}, "at most 100"},
		{"DescribeApiKeysStatus", make([]Filter, MaxFilters+1), "lists 11 filters; at most 10"},
	} {
		for i := range tc.fs {
			if tc.fs[i].Name == "" {
				tc.fs[i] = Filter{Name: "Status", Values: []string{"1"}}
			}
		}
		e := ask(tc.action, tc.fs)
		if e.Response.Error == nil || e.Response.Error.Code != CodeInvalidParameterValue || !strings.Contains(e.Response.Error.Message, tc.want) {
			t.Errorf("%s with %d filters: %+v, want InvalidParameterValue %q", tc.action, len(tc.fs), e.Response.Error, tc.want)
		}
	}
	// At the bounds: served, and a secret among the values matches.
	at := values(MaxFilterValues)
	at[MaxFilterValues-1] = "secret_004242_abcdef"
	fs := []Filter{{Name: "AccessKeySecret", Values: at}}
	for range MaxFilters - 1 {
		fs = append(fs, Filter{Name: "Status", Values: []string{"1"}})
	}
	e := ask("DescribeApiKeysStatus", fs)
	wantOK(t, e)
	var set APIKeysStatus
	if err := json.Unmarshal(e.Response.Result, &set); err != nil {
		t.Fatal(err)
	}
	if set.TotalCount != 1 || set.APIKeySet[0].AccessKeyID != "key_004242" {
		t.Fatalf("a secret among %d values: %+v", MaxFilterValues, set)
	}
}
