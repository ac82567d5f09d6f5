// Package sdktest runs the real Tencent Cloud SDK for Go (v1.0.162, the
// apigateway 2018-08-08 client) against planguard's admin API served by
// a real examples/server process (built by the tests with the go
// command, run in managed mode on loopback ports it picks itself), so
// that the protocol is checked against a client the old gateway's users
// run, end to end: the keys it creates sign requests that the process's
// data listener admits. It is a module of its own so that the core
// module does not depend on the SDK.
package sdktest
