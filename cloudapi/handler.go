package cloudapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// Version is the API version the admin API speaks (X-TC-Version).
const Version = "2018-08-08"

// Limits of a request.
const (
	MaxBodyBytes   = 1 << 20           // bytes of JSON body
	MaxClockSkew   = 300 * time.Second // between X-TC-Timestamp and the server's clock, both ways
	MinSecretBytes = 16                // of an admin credential's secret key
)

// Mode says where the truth of the registry lives, and so whether write
// actions are served.
type Mode uint8

const (
	// Declarative (the default): the configuration file is the truth.
	// Read actions are served; write actions answer UnsupportedOperation.
	Declarative Mode = iota
	// Managed: write actions change the registry through its mutators.
	Managed
)

// Credential is an admin credential: a SecretId/SecretKey pair that
// signs admin requests. It is not a usage-plan key. A read-only
// credential may call the Describe actions only.
type Credential struct {
	SecretID  string
	SecretKey keys.Secret // at least MinSecretBytes bytes
	ReadOnly  bool
}

// Config holds the Handler's settings.
type Config struct {
	// Hosts are the Host header values accepted, each exactly as clients
	// configure their endpoint, port included ("127.0.0.1:9090"). A
	// request with any other Host is refused, which defeats DNS
	// rebinding. Required; LoopbackHosts builds the usual list.
	Hosts []string
	// Mode is Declarative (the zero value) or Managed.
	Mode Mode
	// Usage reads and changes consumed quota; nil reports no usage and
	// refuses the usage actions.
	Usage Usage
	// History reads the usage history for DescribeUsageHistory (a
	// *metering.Recorder); nil refuses that action.
	History History
	// RequireSignedAction refuses requests whose SignedHeaders do not
	// include x-tc-action. The Go SDK v1.0.162 signs only content-type
	// and host, so that a request intercepted before it reaches the
	// server could be sent as another action over the same body (once it
	// was accepted, its signature is refused for a write: see
	// MaxAcceptedSignatures); newer SDKs sign the action too. Off by
	// default so that old clients work.
	RequireSignedAction bool
	// Now is the server's clock for the timestamp window and the quota
	// periods; nil means time.Now. It must be safe for concurrent use.
	Now func() time.Time
}

// LoopbackHosts returns the Host values a client may send to a listener
// on addr (host:port): addr itself and, when its IP is a loopback
// address, "localhost:PORT" (and [::1]:PORT / 127.0.0.1:PORT beside
// each other's name). A client that configures its endpoint as
// "localhost:PORT" sends that string as Host and signs it.
func LoopbackHosts(addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("cloudapi: listener address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("cloudapi: listener address %q: not a single IP address; list the Hosts clients use", addr)
	}
	hosts := []string{net.JoinHostPort(ip.String(), port)}
	if ip.IsLoopback() {
		hosts = append(hosts, net.JoinHostPort("localhost", port))
	}
	return hosts, nil
}

// Handler serves the admin API: Cloud API 3.0 requests (POST / with a
// JSON body, signed with TC3-HMAC-SHA256 by an admin credential) over a
// registry. Build it with New; it is safe for concurrent use. The zero
// Handler is not usable.
//
// Every answer, refusals included, is HTTP 200 with the Cloud API
// envelope: the Tencent SDKs discard the body of any other status.
type Handler struct {
	reg   *usageplan.Registry
	creds map[string]Credential
	hosts map[string]bool
	cfg   Config

	historyPages historyPages   // DescribeUsageHistory's multi-page queries (history_actions.go)
	historyReads historyReads   // DescribeUsageHistory's concurrent reads (history_actions.go)
	seen         seenSignatures // signatures accepted within the replay window (replay.go)
}

// New returns a Handler over reg that accepts the given admin
// credentials. It refuses an empty or duplicated credential, a secret
// shorter than MinSecretBytes, and an empty Hosts list.
func New(reg *usageplan.Registry, creds []Credential, cfg Config) (*Handler, error) {
	if reg == nil {
		return nil, errors.New("cloudapi: nil registry")
	}
	if len(creds) == 0 {
		return nil, errors.New("cloudapi: at least one admin credential is required")
	}
	h := &Handler{reg: reg, creds: map[string]Credential{}, hosts: map[string]bool{}, cfg: cfg}
	for i, c := range creds {
		if c.SecretID == "" || strings.ContainsAny(c.SecretID, "/ ,=") {
			return nil, fmt.Errorf("cloudapi: credential %d: SecretID must be non-empty and contain no '/', ' ', ',' or '='", i)
		}
		if _, dup := h.creds[c.SecretID]; dup {
			return nil, fmt.Errorf("cloudapi: credential %d: SecretID %s is listed twice", i, c.SecretID)
		}
		if n := len(c.SecretKey.Reveal()); n < MinSecretBytes {
			return nil, fmt.Errorf("cloudapi: credential %s: SecretKey must be at least %d bytes, got %d", c.SecretID, MinSecretBytes, n)
		}
		h.creds[c.SecretID] = c
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("cloudapi: Config.Hosts is required (see LoopbackHosts)")
	}
	for _, host := range cfg.Hosts {
		if host == "" {
			return nil, errors.New("cloudapi: Config.Hosts lists an empty host")
		}
		h.hosts[strings.ToLower(host)] = true
	}
	if cfg.Mode != Declarative && cfg.Mode != Managed {
		return nil, fmt.Errorf("cloudapi: unknown Mode %d", cfg.Mode)
	}
	return h, nil
}

func (h *Handler) now() time.Time {
	if h.cfg.Now == nil {
		return time.Now()
	}
	return h.cfg.Now()
}

// call is one authenticated request on its way to an action.
type call struct {
	ctx    context.Context // store calls: not cancelled when the client hangs up
	wait   context.Context // waits for a turn: end when the client hangs up
	action string
	cred   Credential
	body   []byte
	now    time.Time
	snap   *usageplan.Snapshot
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	result, err := h.serve(r)
	var resp map[string]any
	if err != nil {
		resp = map[string]any{"Error": err, "RequestId": requestID}
	} else {
		resp = map[string]any{"RequestId": requestID}
		for k, v := range result {
			resp[k] = v
		}
	}
	body, merr := json.Marshal(map[string]any{"Response": resp})
	if merr != nil {
		body = []byte(`{"Response":{"Error":{"Code":"InternalError","Message":"internal error"},"RequestId":"` + requestID + `"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serve checks r's transport (Host, method, path), authenticates it and
// runs its action.
func (h *Handler) serve(r *http.Request) (map[string]any, *Error) {
	if !h.hosts[strings.ToLower(r.Host)] {
		return nil, errorf(CodeForbiddenHost, "Host %s is not an address of this admin listener", quoteShort(r.Host))
	}
	if r.Method != http.MethodPost {
		return nil, errorf(CodeUnsupportedProtocol, "the admin API accepts POST only, with a JSON body (GET requests and the HmacSHA1/HmacSHA256 signature methods are not supported)")
	}
	if r.URL.Path != "/" || r.URL.RawQuery != "" {
		return nil, errorf(CodeUnsupportedProtocol, "requests go to / without a query string")
	}
	now := h.now()
	cred, body, sig, err := h.authenticate(r, now)
	if err != nil {
		return nil, err
	}
	if v := r.Header.Get("X-TC-Version"); v != Version {
		if v == "" {
			return nil, errorf(CodeMissingParameter, "X-TC-Version is required (%s)", Version)
		}
		return nil, errorf(CodeNoSuchVersion, "version %s is not served; the admin API speaks %s", quoteShort(v), Version)
	}
	name := r.Header.Get("X-TC-Action")
	if name == "" {
		return nil, errorf(CodeMissingParameter, "X-TC-Action is required")
	}
	act, ok := actions[name]
	if !ok {
		return nil, errorf(CodeInvalidAction, "action %s is not served by planguard's admin API", quoteShort(name))
	}
	if act.write {
		if cred.ReadOnly {
			return nil, errorf(CodeUnauthorizedOperation, "credential %s is read-only; %s changes the registry", cred.SecretID, name)
		}
		if h.cfg.Mode != Managed {
			return nil, errorf(CodeUnsupportedOperation, "%s is refused in declarative mode: the configuration file is the source of truth; change the file and reload it", name)
		}
	}
	if act.write {
		if err := h.seen.accept(sig, now); err != nil {
			return nil, err
		}
	}
	// Store calls do not inherit the client's cancellation: a client that
	// hangs up cannot fail a reset half-way.
	c := &call{ctx: context.WithoutCancel(r.Context()), wait: r.Context(), action: name, cred: cred, body: body, now: now, snap: h.reg.Snapshot()}
	return act.run(h, c)
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
