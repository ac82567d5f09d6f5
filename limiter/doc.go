// Package limiter decides, per (plan, key), whether a request is within
// the plan's QPS and quota (SPEC §5). Most users want New with a Store and
// one AllowAt per authenticated request; the middleware does that.
//
// QPS is a token bucket per (plan, key) from golang.org/x/time/rate, with
// rate and burst equal to the plan's QPS. Buckets live in a bounded LRU
// (Config.Capacity); an evicted bucket comes back full. Quota is counted
// per (plan, key) and period in a Store; the in-process MemoryStore is
// exact, boltstore makes it durable, redisstore shares it across
// instances.
//
// Decisions where the SPEC is silent:
//
//   - A request admitted by QPS but refused by quota has used its QPS
//     token (as on the old gateway); a request refused by QPS consumes no
//     quota.
//   - Limits travel with each call, so a changed plan applies to the next
//     request; consumed quota is kept. A bucket whose rate changes keeps
//     its tokens (capped at the new burst).
//   - Quota state (a few words per (plan, key)) is never evicted: it exists
//     only for keys the caller authenticated, whose number the registry
//     bounds. Only QPS buckets are evicted.
//   - With Config.LeaseSize above 1, a quota lowered at run time takes
//     effect once the current lease is spent.
//   - Period boundaries are computed in the plan's time zone with
//     time.Date; a day that DST shortens or lengthens lasts 23 or 25 hours.
package limiter
