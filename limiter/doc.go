// Package limiter decides, per (plan, key), whether a request is within
// the plan's QPS and quota. Most users want New with a Store and
// one AllowAt per authenticated request; the middleware does that.
//
// QPS is a token bucket per (plan, key) from golang.org/x/time/rate, with
// rate and burst equal to the plan's QPS. Buckets live in a bounded LRU
// (Config.Capacity); an evicted bucket comes back full. Quota is counted
// per (plan, key) and period in a Store; the in-process MemoryStore is
// exact, boltstore makes it durable, redisstore shares it across
// instances.
//
// Decisions the model leaves open:
//
//   - A request admitted by QPS but refused by quota has used its QPS
//     token (as on the old gateway); a request refused by QPS consumes no
//     quota.
//   - Limits travel with each call, so a changed plan applies to the next
//     request; consumed quota is kept. A bucket whose rate changes keeps
//     its tokens (capped at the new burst).
//   - A (plan, key)'s in-memory state — its bucket and its quota position —
//     is evicted as one LRU entry. The count itself lives in the Store, so
//     eviction loses no quota: an evicted key's unused lease is given back,
//     and its bucket comes back full. State exists only for keys the caller
//     authenticated.
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
//     evicts the other, as above, so quota stays exact and QPS gets at most
//     an extra burst per turn.
//   - Leases: a Store is asked for quota in leases (Config.LeaseSize, or
//     the store's LeaseSizer; 1 by default, exact across instances), each
//     at most 1% of the plan's quota (MaxLeaseShare). Unused leases go back
//     on eviction, at the end of a period and on Close. A quota lowered at
//     run time below what is already leased hands the lease back at once.
//   - Config.Prefetch (opt-in, for durable stores) tops leases up in the
//     background; a key never holds more than one lease.
//   - A SharedStore (Redis) keeps the QPS buckets too; then every decision
//     is one call to the store and nothing is leased.
//   - Period boundaries are computed in the plan's time zone with
//     time.Date; a day that DST shortens or lengthens lasts 23 or 25 hours.
package limiter
