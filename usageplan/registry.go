package usageplan

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// Options configure a Registry. The zero value is the documented default.
type Options struct {
	// MaxQPS widens the QPS ceiling (requests per second per key);
	// 0 means DefaultMaxQPS. It cannot lower it.
	MaxQPS int64
	// MaxQuota widens the quota ceiling (requests per period per key);
	// 0 means DefaultMaxQuota.
	MaxQuota int64
	// MaxBurst widens the burst ceiling (requests in a bucket at once,
	// per key); 0 means DefaultMaxBurst.
	MaxBurst int64
	// Now stamps created and modified times; nil means time.Now.
	Now func() time.Time
	// Rand generates IDs and keys; nil means crypto/rand.Reader.
	Rand io.Reader
	// LookupEnv resolves a key's secretEnv when loading a config; nil
	// means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

func (o Options) ceilings() ceilings {
	return ceilings{qps: max(o.MaxQPS, DefaultMaxQPS), quota: max(o.MaxQuota, DefaultMaxQuota), burst: max(o.MaxBurst, DefaultMaxBurst)}
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// Registry owns services, keys, plans and bindings. Every change is
// validated against every rule (IDs, names, limits, bindings and the
// exclusivity of plans) and applied atomically: a refused
// change leaves nothing behind. Readers take a Snapshot, which never
// blocks and never shows a half-applied change.
//
// A Registry is safe for concurrent use. Changes are serialised; each
// costs time linear in the size of the registry (it rebuilds the
// snapshot), which suits configurations of up to some hundred thousand
// keys changed a few times a second.
type Registry struct {
	opts Options
	mu   sync.Mutex // serialises writers
	cur  atomic.Pointer[Snapshot]

	resetMu   sync.Mutex
	resetters []UsageResetter
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	r := &Registry{opts: opts}
	r.cur.Store(compile(&model{}, &checked{}, 0))
	return r
}

// Snapshot returns the current state. It never blocks.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// change applies fn to a copy of the state and publishes the result if it
// is valid. fn receives the time of the change.
func (r *Registry) change(fn func(m *model, now time.Time) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	m := old.m.clone()
	if err := fn(m, r.opts.now()); err != nil {
		return err
	}
	return r.publish(m, old.version+1, nil)
}

// publish validates m and stores it as the current snapshot. r.mu is held.
func (r *Registry) publish(m *model, version uint64, skip map[string]bool) error {
	sortModel(m)
	list, c := validate(m, r.opts.ceilings(), skip)
	if len(list) > 0 {
		return &ValidationError{Problems: list}
	}
	r.cur.Store(compile(m, c, version))
	return nil
}

func sortModel(m *model) {
	slices.SortStableFunc(m.services, func(a, b Service) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(m.keys, func(a, b keys.Key) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(m.plans, func(a, b Plan) int { return cmp.Compare(a.ID, b.ID) })
}

// find returns the index of the element with the given ID, or -1.
func find[T any](list []T, id string, idOf func(T) string) int {
	return slices.IndexFunc(list, func(v T) bool { return idOf(v) == id })
}

// Key returns the key with the given secret_id from the current snapshot,
// so that a Registry is a keys.Lookup for the signature verifier: a
// disabled or deleted key is refused on its next request.
func (r *Registry) Key(id string) (keys.Key, bool) { return r.Snapshot().Key(id) }

// sameKey reports whether a and b are the same key apart from their
// times. Secrets are compared by value: a Secret also carries the HMAC
// state it fills on first use, which is no change.
func sameKey(a, b keys.Key) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Secret.Equal(b.Secret) &&
		a.SecretEnv == b.SecretEnv && a.Status == b.Status
}

// samePlan reports whether a and b are the same plan apart from their
// times. A nil and an empty list are the same.
func samePlan(a, b Plan) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description &&
		a.QPS == b.QPS && a.Quota == b.Quota && orTotal(a.QuotaPeriod) == orTotal(b.QuotaPeriod) &&
		a.TimeZone == b.TimeZone && slices.Equal(a.Keys, b.Keys) &&
		a.Burst == b.Burst && slices.Equal(a.Limits, b.Limits) && maps.Equal(a.Throttles, b.Throttles) && a.DryRun == b.DryRun &&
		slices.EqualFunc(a.Bindings, b.Bindings, func(x, y binding.Target) bool {
			return x.Service == y.Service && x.Environment == y.Environment && slices.Equal(x.APIs, y.APIs)
		})
}

// UsageResetter forgets the quota a key has consumed. The middleware
// package adapts a limiter to it, and middleware.New registers one with
// the registry it serves.
type UsageResetter interface {
	// ResetKeyUsage forgets the quota key has consumed under every plan
	// of snap, in the current period. It must be safe for concurrent use.
	ResetKeyUsage(ctx context.Context, snap *Snapshot, key string) error
}

// ResetUsageWith makes every key deletion forget the key's consumed
// quota through u, in every plan (a deleted key is bound to no plan, but
// may have been before): a new key that reuses the ID starts afresh.
// Deletion means DeleteKey, and a Load or Apply whose config drops a key.
// Resetters added more than once are called more than once, which is
// harmless. It is safe for concurrent use.
func (r *Registry) ResetUsageWith(u UsageResetter) {
	r.resetMu.Lock()
	defer r.resetMu.Unlock()
	r.resetters = append(r.resetters, u)
}

// forget resets the usage of deleted keys through every resetter, before
// the deletion is published: if a store fails, nothing is deleted and
// the change can be retried. No lock is held (resetters are user code).
func (r *Registry) forget(snap *Snapshot, ids []string) error {
	r.resetMu.Lock()
	rs := slices.Clone(r.resetters)
	r.resetMu.Unlock()
	for _, id := range ids {
		for _, u := range rs {
			if err := u.ResetKeyUsage(context.Background(), snap, id); err != nil {
				return fmt.Errorf("usageplan: forgetting the usage of key %s: %w", id, err)
			}
		}
	}
	return nil
}

// droppedKeys returns the IDs of old's keys that m lacks.
func droppedKeys(old, m *model) []string {
	kept := make(map[string]bool, len(m.keys))
	for _, k := range m.keys {
		kept[k.ID] = true
	}
	var out []string
	for _, k := range old.keys {
		if !kept[k.ID] {
			out = append(out, k.ID)
		}
	}
	return out
}
