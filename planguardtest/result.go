package planguardtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
)

// Response is what one request got.
type Response struct {
	// Step is the index of the Traffic step that sent the request.
	Step int
	// At is the clock's time when the request was sent.
	At time.Time
	// Status, Header and Body are what the client got. Header names are
	// canonical, as a client reads them (X-Usageplan-Quota): look them
	// up with Header.Get(middleware.HeaderQuota). In process, the
	// headers net/http's server adds (Date, Content-Length) are absent.
	Status int
	Header http.Header
	Body   []byte
	// Reason is the outcome, as the middleware's Observer saw it; in a
	// dry run (DryRun set), the refusal the request would have got,
	// although it was served.
	Reason middleware.Reason
	DryRun bool
	// Observed is false when the middleware never decided the request
	// (a transport failure on loopback).
	Observed bool
	// Caller is what the middleware established, as the handler (or the
	// ErrorHandler) saw it.
	Caller middleware.Caller
	// Decision is the limiter's whole decision, every policy included
	// (Caller.Decision is its summary): the zero Decision when the
	// limiter was not consulted.
	Decision limiter.Decision
	// Err is a loopback transport failure, or RunLimiter's store error.
	Err error
}

// Result is what a script's requests got, in the order they were sent.
type Result struct {
	Responses []Response
}

// Count returns how many requests had the outcome reason (served in a
// dry run or not).
func (r Result) Count(reason middleware.Reason) int {
	n := 0
	for i := range r.Responses {
		if r.Responses[i].Reason == reason {
			n++
		}
	}
	return n
}

// Counts returns the number of requests per outcome.
func (r Result) Counts() map[middleware.Reason]int {
	out := map[middleware.Reason]int{}
	for i := range r.Responses {
		out[r.Responses[i].Reason]++
	}
	return out
}

// Statuses returns the number of responses per HTTP status.
func (r Result) Statuses() map[int]int {
	out := map[int]int{}
	for i := range r.Responses {
		out[r.Responses[i].Status]++
	}
	return out
}

// Step returns the responses of step i.
func (r Result) Step(i int) Result {
	var out Result
	for _, resp := range r.Responses {
		if resp.Step == i {
			out.Responses = append(out.Responses, resp)
		}
	}
	return out
}

// Last returns the last response; the zero Response when there is none.
func (r Result) Last() Response {
	if len(r.Responses) == 0 {
		return Response{}
	}
	return r.Responses[len(r.Responses)-1]
}

// String summarises the outcomes in the order of middleware.Reason:
// "admitted=605 qps=595 quota=5", followed by "dry_run=N" when a dry run
// served N refusals.
func (r Result) String() string {
	counts := r.Counts()
	var parts []string
	for reason := middleware.Admitted; reason <= middleware.RefusedStore; reason++ {
		if n := counts[reason]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", reason, n))
		}
	}
	dry := 0
	for i := range r.Responses {
		if r.Responses[i].DryRun {
			dry++
		}
	}
	if dry > 0 {
		parts = append(parts, fmt.Sprintf("dry_run=%d", dry))
	}
	if len(parts) == 0 {
		return "no requests"
	}
	return strings.Join(parts, " ")
}
