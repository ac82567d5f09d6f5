// Package planguardtest is a test kit for usage plan configurations: it
// answers "at 20 requests per second for a minute, how many does this
// key get, and what does the client see?" in plain go test, without a
// server and without waiting.
//
// New builds a Kit from a configuration (the JSON a server loads) or a
// registry: the registry, a limiter on an in-memory store and the
// middleware, on a clock the test controls (a ManualClock by default;
// SystemClock inside a testing/synctest bubble). Run sends scripted
// traffic (Traffic: a key on an API at a rate for a while, or a count of
// requests at once), signed with the key's secret, through the full
// middleware, and returns every response: the status, the headers and
// body the client got, the outcome (middleware.Reason) and the limiter's
// decision. RunLimiter sends the same script straight to the limiter.
// Do serves one request built by the test (Sign signs it). For a handler
// unit test without the middleware, middleware.NewContext puts a Caller
// in a request's context.
//
// A test of a plan configuration:
//
//	func TestPartnerPlan(t *testing.T) {
//		cfg, err := os.ReadFile("testdata/config.json")
//		if err != nil {
//			t.Fatal(err)
//		}
//		kit, err := planguardtest.New(planguardtest.Config{JSON: string(cfg)})
//		if err != nil {
//			t.Fatal(err) // every problem of the configuration, at its JSON path
//		}
//		defer kit.Close()
//		res := kit.Run(
//			planguardtest.Traffic{Key: "AKID…", API: "getOrder", Rate: 20, For: time.Minute},
//			planguardtest.Traffic{Key: "AKID…", API: "getOrder", Count: 5},
//		)
//		if got := res.Count(middleware.Admitted); got != 500 {
//			t.Errorf("admitted %d, want 500 (%v)", got, res)
//		}
//		if got := res.Last().Header.Get(middleware.HeaderQuota); got != "0/500" {
//			t.Errorf("X-UsagePlan-Quota %q", got)
//		}
//	}
//
// Decisions:
//
//   - Requests are served in process by default (an
//     httptest.ResponseRecorder): the status, the body and the
//     middleware's headers are what a client gets over the network
//     (Config.Loopback sends them over TCP to check that); header names
//     are canonicalised as a client reads them.
//   - A script that cannot be sent (an unknown API or key, negative
//     counts) panics: it is a mistake in the test, not an outcome. A
//     configuration that is invalid is an error from New.
//   - The default clock starts at Start(), Monday 1 June 2026 00:00 UTC,
//     the start of a day, a week and a month, so calendar quotas start
//     with the test.
//   - Wildcards of an API's path pattern are filled with "1"; set
//     Traffic.Path for another path.
package planguardtest
