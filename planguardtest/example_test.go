package planguardtest_test

import (
	"fmt"
	"time"

	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/planguardtest"
)

// A plan configuration, as a server would load it from its file.
const config = `{
  "services": [{"id": "service-orders01", "name": "orders", "environments": ["release"],
    "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}],
  "keys": [{"id": "AKIDexample0000000000000000000000000001", "name": "partner", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
  "plans": [{"id": "usagePlan-silver01", "name": "silver", "qps": 10, "quota": 500, "quotaPeriod": "day",
    "keys": ["AKIDexample0000000000000000000000000001"],
    "bindings": [{"service": "service-orders01", "environment": "release"}]}]
}`

// The test a user writes for a plan configuration: at 20 requests per
// second for a minute, then 5 more, how many does the key get, and what
// does the client see? In a test, t.Fatal replaces panic and t.Errorf
// the prints.
func Example() {
	kit, err := planguardtest.New(planguardtest.Config{JSON: config})
	if err != nil {
		panic(err)
	}
	defer kit.Close()
	key := "AKIDexample0000000000000000000000000001"
	res := kit.Run(
		planguardtest.Traffic{Key: key, API: "getOrder", Rate: 20, For: time.Minute},
		planguardtest.Traffic{Key: key, API: "getOrder", Count: 5},
	)
	fmt.Println(res)
	fmt.Println(res.Last().Status, res.Last().Header.Get(middleware.HeaderQuota), res.Last().Header.Get(middleware.HeaderRetryAfter))
	// Output:
	// admitted=500 qps=481 quota=224
	// 429 0/500 86340
}
