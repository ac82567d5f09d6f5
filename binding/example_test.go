package binding_test

import (
	"fmt"

	"github.com/planguard/planguard/binding"
)

// The exclusivity rule: a key is bound by at most one plan for each API
// of a service environment. Compile checks it and builds the lookup the
// middleware resolves plans with.
func ExampleCompile() {
	gold := binding.Plan{ID: "usagePlan-gold0001", Keys: []string{"AKIDa"},
		Targets: []binding.Target{{Service: "service-orders01", Environment: "release"}}}
	beta := binding.Plan{ID: "usagePlan-beta0001", Keys: []string{"AKIDa"},
		Targets: []binding.Target{{Service: "service-orders01", Environment: "test", APIs: []string{"api-get00001"}}}}

	table, err := binding.Compile([]binding.Plan{gold, beta})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(table.Lookup("service-orders01", "release", "api-get00001", "AKIDa"))
	fmt.Println(table.Lookup("service-orders01", "test", "api-get00001", "AKIDa"))
	fmt.Println(table.Lookup("service-orders01", "test", "api-put00001", "AKIDa"))

	// A second plan binding the same key to an API gold already covers.
	clash := binding.Plan{ID: "usagePlan-clash001", Keys: []string{"AKIDa"},
		Targets: []binding.Target{{Service: "service-orders01", Environment: "release", APIs: []string{"api-get00001"}}}}
	_, err = binding.Compile([]binding.Plan{gold, clash})
	fmt.Println(err)
	// Output:
	// usagePlan-gold0001 true
	// usagePlan-beta0001 true
	//  false
	// usagePlan-gold0001 binds service-orders01/release service-wide and usagePlan-clash001 binds it API-scoped; service-wide and API-scoped plans cannot coexist in one service environment (demote usagePlan-gold0001 first)
	// usagePlan-clash001 and usagePlan-gold0001 both bind key AKIDa to service-orders01/release
}
