// Package planguard enforces API usage plans inside a Go server: who may
// call which API, how fast and how much, as a cloud API gateway's usage
// plans do, without running a gateway. This package holds no code; the
// library is its subpackages, and most users want middleware.New
// first, with a registry loaded by usageplan.LoadConfig and a
// limiter.New limiter.
//
// A request goes through the pieces in this order:
//
//	client ── signed request ──▶ middleware ──▶ your http.Handler
//	 (keys.Signer,                 │    ▲
//	  keys.Transport)              │    └── middleware.FromContext: the caller
//	                               ▼
//	        keys: verify the signature (HMAC key pairs, replay cache)
//	        usageplan: resolve service, environment, API and plan
//	                   from an immutable registry snapshot
//	        limiter:   QPS, burst, windows, throttles and quota
//	                   ├── limiter.MemoryStore   (one process)
//	                   ├── boltstore             (durable, embedded)
//	                   └── redisstore            (exact across a fleet)
//	        metering:  usage history and export, off the request path
//
// The registry changes at run time through typed changes
// (Registry.Apply in usageplan) or by reloading its config file; readers
// never wait for a writer. Package cloudapi serves the old gateway's
// Cloud API 3.0 management actions over the same registry, and package
// planguardtest drives a plan configuration through the real middleware
// on a virtual clock inside plain go test.
//
// The docs directory of the repository covers configuration, signing,
// responses, operations, the admin API, metering, security, and
// migrating from the old gateway (docs/migration.md).
package planguard
