package cloudapi_test

import (
	"fmt"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// A loopback admin listener accepts its IP and localhost as Host: a
// client may configure either as its endpoint.
func ExampleLoopbackHosts() {
	hosts, err := cloudapi.LoopbackHosts("127.0.0.1:9090")
	fmt.Println(hosts, err)
	// Output: [127.0.0.1:9090 localhost:9090] <nil>
}

func ExampleNew() {
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	hosts, _ := cloudapi.LoopbackHosts("127.0.0.1:9090")
	h, err := cloudapi.New(reg, []cloudapi.Credential{
		{SecretID: "AKIDadmin", SecretKey: keys.NewSecret("an-admin-secret-of-32-characters")},
		{SecretID: "AKIDreader", SecretKey: keys.NewSecret("a-reader-secret-of-32-characters"), ReadOnly: true},
	}, cloudapi.Config{Hosts: hosts, Mode: cloudapi.Managed})
	fmt.Println(h != nil, err)
	// http.ListenAndServe("127.0.0.1:9090", h) serves it.
	// Output: true <nil>
}
