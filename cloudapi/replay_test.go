package cloudapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

func usageHandler(t *testing.T, requireSignedAction bool) (*Handler, *limiter.Limiter, *usageplan.Registry) {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close(context.Background()) })
	now := func() time.Time { return epoch }
	h, err := New(reg, []Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		Config{Hosts: []string{testHost}, Mode: Managed, Usage: LimiterUsage(lim, reg.Snapshot, now), Now: now, RequireSignedAction: requireSignedAction})
	if err != nil {
		t.Fatal(err)
	}
	return h, lim, reg
}

// TestSignedGrantReplays: TC3 has no nonce, so the handler remembers the
// signatures it accepted: one signed GrantApiKeyUsage sent 3 times (the
// same timestamp, body and signature) is granted once.
func TestSignedGrantReplays(t *testing.T) {
	h, lim, reg := usageHandler(t, true)
	plan, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd")
	limits := limitsOf(reg.Snapshot(), plan)
	if err := lim.SetUsage(context.Background(), plan.ID, "partner_key_1", limits, epoch, 90); err != nil {
		t.Fatal(err)
	}
	grant := req{action: "GrantApiKeyUsage", signedHeaders: "content-type;host;x-tc-action", ts: epoch,
		body: `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyId":"partner_key_1","RequestNum":10}`}
	var left []int64
	for range 3 {
		e := do(t, h, grant.build()) // the same timestamp, body and signature each time
		if e.Response.Error != nil {
			if e.Response.Error.Code != CodeSignatureFailure || !strings.Contains(e.Response.Error.Message, "already accepted") {
				t.Fatalf("replay refused with %s: %s", e.Response.Error.Code, e.Response.Error.Message)
			}
			left = append(left, -1)
			continue
		}
		var u APIKeyUsage
		if err := json.Unmarshal(e.Response.Result, &u); err != nil {
			t.Fatal(err)
		}
		left = append(left, u.InUseRequestNum)
	}
	if left[0] != 80 || left[1] != -1 || left[2] != -1 {
		t.Fatalf("one signed GrantApiKeyUsage of 10, sent 3 times: usage after each %v (want [80 -1 -1])", left)
	}
	// A new signature (another second) is served.
	e := do(t, h, req{action: "GrantApiKeyUsage", signedHeaders: "content-type;host;x-tc-action", ts: epoch.Add(-time.Second),
		body: `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyId":"partner_key_1","RequestNum":10}`}.build())
	wantOK(t, e)
}

// TestActionSwapOnDefaultConfig: with the default Config (the action
// not signed), two different writes over the same body in the same
// second share a signature, and both are served (DisableApiKey then
// EnableApiKey; scripts disable then delete a key alike); each sent
// again is refused. (With RequireSignedAction, a signature cannot be
// sent as another action: TestRequireSignedAction.)
func TestActionSwapOnDefaultConfig(t *testing.T) {
	h, _, reg := usageHandler(t, false)
	const body = `{"AccessKeyId":"partner_key_1"}`
	disable := req{action: "DisableApiKey", body: body}.build()
	as := func(r *http.Request, action string) *http.Request {
		c := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		c.Host, c.Header = r.Host, r.Header.Clone()
		c.Header.Set("X-TC-Action", action)
		return c
	}
	wantOK(t, do(t, h, as(disable, "DisableApiKey")))
	if e := do(t, h, as(disable, "DisableApiKey")); e.Response.Error == nil || e.Response.Error.Code != CodeSignatureFailure {
		t.Fatalf("DisableApiKey sent again: %v", e.Response.Error)
	}
	wantOK(t, do(t, h, as(disable, "EnableApiKey"))) // the same signature, another write
	if k, _ := reg.Snapshot().Key("partner_key_1"); k.Status != keys.Enabled {
		t.Fatalf("EnableApiKey after DisableApiKey in the same second: status %v", k.Status)
	}
	if e := do(t, h, as(disable, "EnableApiKey")); e.Response.Error == nil || e.Response.Error.Code != CodeSignatureFailure {
		t.Fatalf("EnableApiKey sent again: %v", e.Response.Error)
	}

}

// TestSeenSignaturesBounded: the record of accepted writes forgets them
// seenFor (2×MaxClockSkew and a second) after they were accepted, not
// before; when it is full
// of writes still in their window, a new one is refused (not an old one
// forgotten, which would re-open its replay). The action is part of a
// write's key.
func TestSeenSignaturesBounded(t *testing.T) {
	var s seenSignatures
	sig := func(id, action string, i int) [sha256.Size]byte {
		var b [sha256.Size]byte
		b[0], b[1], b[2] = byte(i), byte(i>>8), byte(i>>16)
		return seenKey(id, "1796427673", action, &b)
	}
	for i := range MaxAcceptedSignatures {
		if err := s.accept(sig(adminID, "DisableApiKey", i), epoch); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := s.accept(sig(adminID, "DisableApiKey", MaxAcceptedSignatures), epoch); err == nil || !strings.Contains(err.Message, "too many") {
		t.Fatalf("a new write with the record full: %v", err)
	}
	if err := s.accept(sig(adminID, "DisableApiKey", 0), epoch.Add(seenFor)); err == nil || !strings.Contains(err.Message, "already accepted") {
		t.Fatalf("the first write at the end of its window: %v", err)
	}
	later := epoch.Add(seenFor + time.Nanosecond)
	if err := s.accept(sig(adminID, "DisableApiKey", 0), later); err != nil {
		t.Fatalf("a write once the old ones expired: %v", err)
	}
	if err := s.accept(sig(adminID, "DisableApiKey", 0), later); err == nil {
		t.Fatal("the same write again: served")
	}
	if err := s.accept(sig(adminID, "DeleteApiKey", 0), later); err != nil {
		t.Fatalf("the same signature as another write: %v", err)
	}
	if err := s.accept(sig(readerID, "DisableApiKey", 0), later); err != nil {
		t.Fatalf("the same signature bytes under another SecretId: %v", err)
	}
	if len(s.set) != 3 || len(s.order)-s.head != 3 {
		t.Fatalf("after expiry: %d remembered, %d queued", len(s.set), len(s.order)-s.head)
	}
}

// A write whose timestamp is 300 s ahead, accepted 0.9 s into a second,
// is still within the window 600.95 s later (the skew is checked in
// whole seconds): the record must still hold it then.
func TestReplayInTheLastSecondOfItsWindow(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(epoch.Add(900 * time.Millisecond).UnixNano())
	h, err := New(reg, []Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		Config{Hosts: []string{testHost}, Mode: Managed, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	create := req{action: "CreateUsagePlan", body: `{"UsagePlanName":"replayed"}`, ts: epoch.Add(300 * time.Second)}
	wantOK(t, do(t, h, create.build())) // skew -300 s: accepted, recorded until epoch+600.9 s

	clock.Store(epoch.Add(600*time.Second + 950*time.Millisecond).UnixNano()) // skew +300 s: still in the window
	e := do(t, h, create.build())                                             // the very same signed request
	plans := 0
	for _, p := range reg.Snapshot().Plans() {
		if p.Name == "replayed" {
			plans++
		}
	}
	if e.Response.Error == nil || plans != 1 {
		t.Fatalf("the same signed CreateUsagePlan was served again 600.05 s later (error %+v); plans created: %d, want 1", e.Response.Error, plans)
	}
}

// --- Finding 2: InternalError for a write that was applied. ---

// failingUsage is a usage store that cannot be reached.
