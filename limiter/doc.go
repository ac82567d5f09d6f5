// Package limiter decides, per (plan, key), whether a request is within
// the plan's limits. Most users want New with a Store and one AllowAt
// per authenticated request; the middleware does that.
//
// A request passes up to seven limits, all or nothing: the API's
// throttle (a bucket per plan, key and API), the plan's QPS bucket (rate
// Limits.QPS, burst Limits.Burst), up to four windows (each a bucket of
// rate Requests/Per and burst Requests, never a fixed window), and the
// quota of the period, which counts Request.Units (the buckets count
// requests). It is admitted only if every limit admits it; a refused
// request consumes nothing from any of them, and its RetryAfter is the
// longest wait among the limits that refused. The Decision reports every
// limit's state (Decision.Policies). Limits.DryRun decides and reports
// as if enforced but admits what a limit refuses, consuming nothing.
//
// Buckets follow the generic cell rate algorithm: one 64-bit theoretical
// arrival time each, deciding as golang.org/x/time/rate does (a test
// holds them to it). A key's QPS bucket and its quota position are one
// 64-byte entry, found by one seeded 64-bit hash of (plan, key) in an
// open-addressing index per shard (16 bytes a slot, at most 80% full);
// the windows it was made with follow it in the same allocation (8 bytes
// each), its throttles (and windows its plan gained since) are 16-byte
// slots of a second table. A caller that passes the same key string
// for every request of a key (the middleware passes the registry's key
// ID) finds the entry sooner, by the string's address in a key table
// (8-way sets of 12-byte slots, up to eight per entry made, at most
// Config.Capacity rounded up to a power of two): the key's bytes are not
// hashed and the index is not read, one memory access fewer per
// decision. Request.Plan and Request.Key are kept in the entry, as Go
// strings they never change. When Config.Capacity entries are held, a
// CLOCK hand evicts one not used since it last passed; an evicted key's
// buckets come back full. Quota is counted in a Store; the in-process
// MemoryStore is exact, boltstore makes it durable, redisstore shares
// it (and the buckets) across instances.
//
// A decision never holds a lock across a store call: a decision that
// must ask the store holds its key's quota meanwhile, so that other
// decisions on that key wait for the answer and decisions on other keys
// do not. A request whose plan has a QPS bucket and windows, with or
// without a quota and alerts, but no throttle, and whose key has a
// lease in hand (or needs none) takes a shorter path that decides
// exactly as the general one. Found through
// the key table, it takes one lock, its entry's own (a word in the
// entry's cache line), so that a decision writes one cache line; the
// general path takes its shard's lock (256 shards, by the hash) and the
// entry's inside it.
//
// Decisions the model leaves open:
//
//   - Invalid Limits (a QPS or quota of 0, negative values other than
//     Unlimited, more than MaxWindows windows) are an error wrapping
//     ErrInvalidLimits, not a refusal.
//   - Limits travel with each call, so a changed plan applies to the next
//     request; consumed quota is kept. A bucket whose rate or burst
//     changes keeps its debt in time (tokens taken × the old interval),
//     but is never worse than empty.
//   - A decision's time may lag others on the same key (a request that
//     read the clock before another but reached the limiter after it):
//     its bucket is then less refilled, so it can be refused, never
//     admitted beyond the rate. With a burst of one second's rate, it
//     takes a lag of about a second.
//   - RetryAfter of a Total quota's refusal is 0: it never resets. When
//     such a quota refuses with other limits, it is the limit reported.
//   - Windows and throttles are found by a hash of (plan, key, window or
//     API) alone: should two of them collide (about n²/2⁶⁵ with n
//     buckets), they share one bucket. A bucket that is full is
//     indistinguishable from one that is not stored, so full ones are
//     dropped first when room is needed; beyond Config.Capacity×MaxWindows
//     the one closest to full among a sample goes (it comes back full:
//     at most one extra burst).
//   - A (plan, key)'s in-memory state — its QPS bucket and its quota
//     position — is evicted as one entry. The count itself lives in the
//     Store, so eviction loses no quota: an evicted key's unused lease
//     is given back, and its buckets come back full. State exists only
//     for keys the caller authenticated.
//   - An evicted entry whose lease is not back in the store yet is kept
//     aside and reused if its key returns meanwhile, so that a key never
//     has two entries and is never refused for quota that its own lease
//     holds.
//   - A key whose quota the store reported spent is refused from memory
//     (no store call) until its period or limits change, its usage is
//     set through this Limiter, or a second passes (spentRecheck: units
//     another Limiter gives back to a shared store become usable again).
//   - Pruning: when the first key of a plan enters a new calendar period,
//     a Store that implements Pruner (MemoryStore, boltstore) deletes the
//     plan's counters of every period before the previous one, in the
//     background (Close waits). A plan keeps its current and previous
//     period's counts; Total counts are never pruned.
//   - Entries are found by one seeded 64-bit hash of (plan, key). Should two
//     (plan, key) pairs ever collide (about n²/2⁶⁵ with n pairs, and the
//     seed never leaves the process), they take turns in one slot: each
//     evicts the other, as above, so quota stays exact and the buckets
//     get at most an extra burst per turn.
//   - Leases: a Store is asked for quota in leases (Config.LeaseSize, or
//     the store's LeaseSizer; 1 by default, exact across instances), each
//     at most 1% of the plan's quota (MaxLeaseShare), or the request's
//     units if more. Unused leases go back on eviction, at the end of a
//     period and on Close. A quota lowered at run time below what is
//     already leased hands the lease back at once. Units a refused
//     request had reserved stay in the lease for the next request.
//   - Config.Prefetch (opt-in, for durable stores) tops leases up in the
//     background; a key never holds more than one lease.
//   - A SharedStore (Redis) keeps the buckets too; then every decision
//     is one call to the store, all or nothing in one atomic step on the
//     store's clock, and nothing is leased.
//   - Period boundaries are computed in the plan's time zone with
//     time.Date; a day that DST shortens or lengthens lasts 23 or 25 hours.
//   - ChargeAt counts units after the fact (the tokens of a response):
//     never refused, a charge takes the quota to 0 at most and returns
//     the rest as overage, which the quota does not count. It takes from
//     the key's lease first, then from the store (Reserve); on a
//     SharedStore it is one Take.
//   - Alerts (Limits.Alerts, Config.OnAlert) are reported by the one
//     step, a request or a charge, that takes a key's consumption from
//     below a threshold to at least it: on a SharedStore in the store's
//     atomic step, so that a fleet reports each threshold once; on other
//     stores in the Limiter, by the goroutine that owns the key's quota
//     (the entry's decision lock, or the quota held for a store call), which is exact
//     while one Limiter uses the store (a MemoryStore, a boltstore file,
//     which one process opens). A reset of the usage lets thresholds
//     fire again.
package limiter
