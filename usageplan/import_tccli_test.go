package usageplan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tccli prints a response as the SDK's response model: {"Result": …,
// "RequestId": …}, without the API's "Response" envelope. Import takes
// that shape as it takes the API's and the bare Result: the three give
// the same config and nothing to report.
func TestImportTccliOutput(t *testing.T) {
	result := `{"TotalCount": 1, "ServiceUsagePlanList": [{"ServiceId": "service-abcd1234", "ServiceName": "orders",
	  "UsagePlanId": "usagePlan-quqxvett", "UsagePlanName": "gold", "Environment": "release",
	  "MaxRequestNum": 100000, "MaxRequestNumPreSec": 100}]}`
	var configs []*Config
	for name, data := range map[string]string{
		"api":    `{"Response": {"Result": ` + result + `, "RequestId": "6a1c"}}`,
		"tccli":  `{"Result": ` + result + `, "RequestId": "6a1c"}`,
		"result": result,
	} {
		cfg, report := Import([]ExportFile{{Name: "DescribeServiceUsagePlan.json", Data: []byte(data)}})
		require.Empty(t, report.Problems, name)
		require.Len(t, cfg.Plans, 1, name)
		require.NotNil(t, cfg.Plans[0].Quota, name)
		assert.Equal(t, "100000", cfg.Plans[0].Quota.String(), name)
		configs = append(configs, cfg)
	}
	assert.Equal(t, configs[0], configs[1])
	assert.Equal(t, configs[0], configs[2])
}
