// Package metering keeps the usage history of every (plan, key): per
// hour (UTC) and per day (in the plan's time zone), the requests
// admitted, the quota units they consumed, overage units, and the
// requests refused for a rate limit or for the quota.
//
// Most users want a Recorder: NewRecorder with a HistoryStore (the
// MemoryHistory here, or the bbolt and Redis stores of the boltstore and
// redisstore modules, which keep the history beside the quota), then
// Start, and the middleware's Config.Meter set to it. Recording is a
// memory operation: the Recorder sums events per (plan, key) and writes
// the sums to its store at an interval (DefaultFlushInterval) and on
// Close, so a store write never waits on a request, and the writes per
// interval are bounded by the number of (plan, key) pairs that were
// active in it, not by the number of requests. A crash loses at most the
// last interval of history; the quota is kept by the limiter's store and
// is not affected. Each write is a Batch named by the Recorder's writer
// ID and a sequence number; a failed one is written again, unchanged,
// before any newer one, and every store applies each part of a writer's
// batches at most once and none older than the last it applied, so a
// write whose reply was lost is not counted twice.
//
// The history is read with Recorder.History (the store's rows and what
// is not written yet) or a store's History, and exported with Export
// (CSV or JSON lines) or an Encoder (NewEncoder). Every row has a RecordID derived from its plan,
// key, granularity and start, so that a billing import run twice over
// the same rows can recognise them.
package metering
