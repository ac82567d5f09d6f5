package usageplan_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/planguard/planguard/usageplan"
)

// A configuration unit test: which API does a call match, which plan
// applies and with which limits — or why none does.
func ExampleSnapshot_Explain() {
	reg, err := usageplan.LoadConfig(strings.NewReader(`{
	  "services": [{"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
	    "apis": [
	      {"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"},
	      {"id": "api-hlth0001", "name": "health", "method": "GET", "path": "/health", "auth": "NONE"}]}],
	  "keys": [{"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "test01", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
	  "plans": [{"id": "usagePlan-kgf82zcd", "name": "gold", "qps": 1000, "quota": 100000, "quotaPeriod": "month",
	    "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
	    "bindings": [{"service": "service-abcd1234", "environment": "release"}]}]
	}`), usageplan.RegistryConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	snap := reg.Snapshot()
	for _, req := range []usageplan.Request{
		{Service: "service-abcd1234", Environment: "release", Method: "GET", Path: "/orders/42", Key: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"},
		{Service: "service-abcd1234", Environment: "test", Method: "GET", Path: "/orders/42", Key: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"},
		{Service: "service-abcd1234", Environment: "test", Method: "GET", Path: "/health"},
		{Service: "service-abcd1234", Environment: "release", Method: "POST", Path: "/orders/42"},
	} {
		ex, err := snap.Explain(req)
		switch {
		case errors.Is(err, usageplan.ErrNoPlan):
			fmt.Printf("%s %s: %s matched, no plan\n", req.Environment, req.Path, ex.API.Name)
		case errors.Is(err, usageplan.ErrNoAPI):
			fmt.Printf("%s %s %s: no API\n", req.Environment, req.Method, req.Path)
		case err != nil:
			fmt.Println(err)
		case ex.API.Auth == usageplan.AuthNone:
			fmt.Printf("%s %s: %s, no key needed\n", req.Environment, req.Path, ex.API.Name)
		default:
			fmt.Printf("%s %s: %s under %s (%d QPS, %d per %s)\n", req.Environment, req.Path,
				ex.API.Name, ex.Plan.Name, ex.Plan.QPS, ex.Plan.Quota, ex.Plan.QuotaPeriod)
		}
	}
	// Output:
	// release /orders/42: getOrder under gold (1000 QPS, 100000 per month)
	// test /orders/42: getOrder matched, no plan
	// test /health: health, no key needed
	// release POST /orders/42: no API
}
