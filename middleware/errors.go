package middleware

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/planguard/planguard/limiter"
)

// Header names the middleware sets on responses and requests.
const (
	HeaderQuota           = "X-UsagePlan-Quota"     // "<remaining>/<quota>" or "unlimited"
	HeaderRateLimit       = "X-UsagePlan-RateLimit" // "<qps>" or "unlimited"
	HeaderAPIID           = "X-Api-ID"
	HeaderRateLimitPolicy = "RateLimit-Policy" // IETF draft-ietf-httpapi-ratelimit-headers
	HeaderRateLimitState  = "RateLimit"
	HeaderRetryAfter      = "Retry-After"

	// Request headers forwarded to the handler with Config.ForwardHeaders;
	// client-sent copies are always removed.
	HeaderSecretID    = "X-Api-SecretId"
	HeaderUsagePlanID = "X-Api-UsagePlanId"
	HeaderEnvironment = "X-Api-Environment"
)

// Refusal messages that are not authentication errors (those come from
// keys.AuthError.Message).
const (
	MessageNoPlan      = "Found no validate usage plan."
	MessageQPS         = "API rate limit exceeded."
	MessageQuota       = "API quota exceeded."
	MessageStoreFailed = "Usage plan store unavailable."
)

// Error is a refusal: the old gateway's status and message. Response
// headers (Retry-After, the usage headers) are already set on the
// ResponseWriter when an ErrorHandler sees it. Each request has its own
// Error; its Caller is the request's, valid during the ErrorHandler's
// call (copy *Caller to keep it).
type Error struct {
	Status  int
	Message string
	// Cause is the underlying error, for logs: a *keys.AuthError, the
	// store's error, or nil. It never holds a secret.
	Cause error
	// Reason is why the request was refused (the Observer's).
	Reason Reason
	// Caller is what was established before the refusal (see
	// Event.Caller); valid during the ErrorHandler's call.
	Caller *Caller
	// Decision is the limiter's, for RefusedQPS and RefusedQuota.
	Decision limiter.Decision
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Message }

// ErrorHandler writes a refusal. It must write the status. It is called
// from the goroutine serving the request, so concurrently with itself:
// it must be safe for concurrent use. e and e.Caller are valid during
// the call only.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, e *Error)

// WriteJSON is the default ErrorHandler: the old gateway's
// {"message": "..."} body.
func WriteJSON(w http.ResponseWriter, _ *http.Request, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{e.Message})
}

// WriteProblem is an ErrorHandler that writes RFC 9457 problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Type     string `json:"type"`
		Title    string `json:"title"`
		Status   int    `json:"status"`
		Detail   string `json:"detail"`
		Instance string `json:"instance,omitempty"`
	}{"about:blank", http.StatusText(e.Status), e.Status, e.Message, r.URL.Path})
}

// MaxDrain is how much of an unread request body the middleware reads
// and discards before it writes a refusal (1 MiB, nginx's default
// client_max_body_size). A server that closes a connection with unread
// bytes in its receive buffer makes the kernel reset it, and a proxy in
// front (nginx) may lose the refusal to the reset and answer 502; a
// drained connection closes cleanly or stays open for the next
// request. A body longer than MaxDrain is not read further: the refusal
// asks to close the connection ("Connection: close").
const MaxDrain = 1 << 20

// drain reads what is left of r's body, up to MaxDrain bytes. It runs
// before the ErrorHandler, so a replaced handler gets it too. A client
// that sent "Expect: 100-continue" waits for the server's go-ahead before
// it sends the body; it does not get one, and net/http closes the
// connection after the refusal.
func drain(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	n, err := io.CopyN(io.Discard, r.Body, MaxDrain+1)
	if n > MaxDrain || err != nil && err != io.EOF {
		w.Header()["Connection"] = []string{"close"}
	}
}
