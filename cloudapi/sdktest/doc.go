// Package sdktest runs the real Tencent Cloud SDK for Go (v1.0.162, the
// apigateway 2018-08-08 client) against planguard's admin API, so that
// the protocol is checked against a client the old gateway's users run,
// not only against planguard's own idea of it. It is a module of its own
// so that the core module does not depend on the SDK.
package sdktest
