package cloudapi

// action is one X-TC-Action the admin API serves.
type action struct {
	write bool // changes the registry or usage: refused to read-only credentials and in declarative mode
	run   func(h *Handler, c *call) (map[string]any, *Error)
}

// actions maps X-TC-Action to its implementation.
var actions = map[string]action{
	// Keys.
	"CreateApiKey":          {true, (*Handler).createAPIKey},
	"UpdateApiKey":          {true, (*Handler).updateAPIKey},
	"EnableApiKey":          {true, (*Handler).enableAPIKey},
	"DisableApiKey":         {true, (*Handler).disableAPIKey},
	"DeleteApiKey":          {true, (*Handler).deleteAPIKey},
	"DescribeApiKey":        {false, (*Handler).describeAPIKey},
	"DescribeApiKeysStatus": {false, (*Handler).describeAPIKeysStatus},
	// Plans.
	"CreateUsagePlan":          {true, (*Handler).createUsagePlan},
	"ModifyUsagePlan":          {true, (*Handler).modifyUsagePlan},
	"DeleteUsagePlan":          {true, (*Handler).deleteUsagePlan},
	"DescribeUsagePlan":        {false, (*Handler).describeUsagePlan},
	"DescribeUsagePlansStatus": {false, (*Handler).describeUsagePlansStatus},
	// Bindings.
	"BindSecretIds":          {true, (*Handler).bindSecretIDs},
	"UnBindSecretIds":        {true, (*Handler).unbindSecretIDs},
	"BindEnvironment":        {true, (*Handler).bindEnvironment},
	"UnBindEnvironment":      {true, (*Handler).unbindEnvironment},
	"DemoteServiceUsagePlan": {true, (*Handler).demoteServiceUsagePlan},
	// The Describe queries.
	"DescribeApiUsagePlan":          {false, (*Handler).describeAPIUsagePlan},
	"DescribeServiceUsagePlan":      {false, (*Handler).describeServiceUsagePlan},
	"DescribeUsagePlanEnvironments": {false, (*Handler).describeUsagePlanEnvironments},
	"DescribeUsagePlanSecretIds":    {false, (*Handler).describeUsagePlanSecretIDs},
	// planguard's usage actions.
	"DescribeApiKeyUsage": {false, (*Handler).describeAPIKeyUsage},
	"ResetApiKeyUsage":    {true, (*Handler).resetAPIKeyUsage},
	"GrantApiKeyUsage":    {true, (*Handler).grantAPIKeyUsage},

	"DescribeUsageHistory": {false, (*Handler).describeUsageHistory}, // history_actions.go
}

// Actions returns the names of the actions served, for documentation and
// tests; writes reports which of them change state.
func Actions() (names []string, writes map[string]bool) {
	writes = map[string]bool{}
	for n, a := range actions {
		names = append(names, n)
		writes[n] = a.write
	}
	return names, writes
}

func result(v any) (map[string]any, *Error) { return map[string]any{"Result": v}, nil }

func done() (map[string]any, *Error) { return result(true) }
