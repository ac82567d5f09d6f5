package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
)

var _ metering.HistoryStore = (*Store)(nil)

// The usage history is kept in three kinds of keys:
//
//   - per (plan, key, granularity), a hash in the (plan, key)'s hash
//     slot, "<tag>:h:hour" or "<tag>:h:day", with a field per row and
//     count, "<start>/<i>" (start in Unix seconds; i 0 to 4: requests,
//     units, overage, refused rate, refused quota) added by a script
//     (history_add.lua) that saturates: a count that would pass
//     math.MaxInt64 stops there instead of failing the write;
//   - per (plan, granularity), an index of the plan's keys, a sorted set
//     "<prefix>{<plan>}:h:hour" whose scores are each key's oldest row
//     start, so that pruning visits only keys that have rows to prune;
//   - "<prefix>h:plans", the set of plans with history;
//   - the records of the writers' batches applied, a string
//     "<seq>:<part>" of the last part applied, "<prefix>h:w:<writer>" on
//     a single server, "<tag>:h:w:<writer>" per (plan, key) on a Ring or
//     Cluster, which expire metering.BatchWindow after the writer's last
//     write (AddHistory).
//
// A history write is a round trip per 1,000 rows (a script in a
// MULTI/EXEC transaction on a single server), queries read the index
// and then the hashes in pipelines (a short hourly query only its rows'
// fields), and pruning (the Recorder's, hourly) deletes the fields of
// rows before the bound with a script per hash whose index score is
// before it.

// historyCounts is the number of counts per row, in the order of the
// fields' suffixes.
const historyCounts = 5

func countsOf(c metering.Counts) [historyCounts]int64 {
	return [historyCounts]int64{c.Requests, c.Units, c.Overage, c.RefusedRate, c.RefusedQuota}
}

func setCount(c *metering.Counts, i int, n int64) {
	switch i {
	case 0:
		c.Requests = n
	case 1:
		c.Units = n
	case 2:
		c.Overage = n
	case 3:
		c.RefusedRate = n
	case 4:
		c.RefusedQuota = n
	}
}

func granularityName(g metering.Granularity) string {
	if g == metering.Day {
		return "day"
	}
	return "hour"
}

func (s *Store) historyKey(plan, key string, g metering.Granularity) string {
	return s.tag(plan, key) + ":h:" + granularityName(g)
}

func (s *Store) historyIndex(plan string, g metering.Granularity) string {
	return s.prefix + "{" + strconv.Itoa(len(plan)) + ":" + plan + "}:h:" + granularityName(g)
}

func (s *Store) historyPlans() string { return s.prefix + "h:plans" }

func (s *Store) closed() bool {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return s.batch.closed
}

// pipelined runs fn's commands in one round trip: a MULTI/EXEC
// transaction on a single server (all or nothing), a pipeline on a Ring
// or Cluster (whose keys span servers).
func (s *Store) pipelined(ctx context.Context, fn func(redis.Pipeliner) error) error {
	if _, single := s.rdb.(*redis.Client); single {
		_, err := s.rdb.TxPipelined(ctx, fn)
		return err
	}
	_, err := s.rdb.Pipelined(ctx, fn)
	return err
}

func (s *Store) historyErr(err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return limiter.ErrStoreClosed
	}
	return err
}

// historyWriteBatch bounds the rows of one write: a flush of many keys
// is written in parts of this many rows, so that no script holds a
// Redis that also answers requests for long.
var historyWriteBatch = 1000

// AddHistory implements metering.HistoryStore: one round trip per
// historyWriteBatch rows (one for a batch of up to 500 keys' hour and
// day rows), each part of the batch applied once. Counts saturate at
// math.MaxInt64 (metering.Counts.Add): no count makes a write fail.
//
// Part i of batch b (rows i×historyWriteBatch onwards) is applied by a
// script (history_add.lua) that reads the record of b.Writer, the
// "<seq>:<part>" of the last part applied, and applies the part only
// when (b.Seq, i) is past it, setting the record to (b.Seq, i) in the
// same run as its increments (its lifetime renewed to
// metering.BatchWindow): a write whose reply was lost, written again by
// the Recorder, adds nothing twice, and an older batch replayed adds
// nothing. The script checks the record, every key's type and every
// field it increments before it writes: a part is applied whole or not
// at all.
//
// On a single server a part is one script over all its keys and the
// writer's record, "<prefix>h:w:<b.Writer>", in a MULTI/EXEC with the
// script's load: one record per writer. On a Ring or a Cluster a script
// may touch the keys of one hash slot only: a part is a pipeline of a
// script per (plan, key) — its hour and day hashes and the writer's
// record for that (plan, key), "<tag>:h:w:<b.Writer>", all in its hash
// slot — and of the index updates (idempotent); a part is then applied
// per (plan, key), and a writer costs a record per (plan, key) it wrote
// within metering.BatchWindow (about 230 bytes of Redis memory each with
// 100-byte key names), whatever the number of its batches.
//
// When a part fails, the error is a metering.PartialWriteError counting
// the leading rows known added, when there are any: the parts before
// it, and on a Ring or Cluster the leading rows of the failed part whose
// scripts Redis answered.
func (s *Store) AddHistory(ctx context.Context, b metering.Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	if s.closed() {
		return limiter.ErrStoreClosed
	}
	written, part := 0, 0
	for chunk := range slices.Chunk(b.Rows, historyWriteBatch) {
		at := batchPart{writer: b.Writer, seq: b.Seq, part: part}
		var n int
		var err error
		if _, single := s.rdb.(*redis.Client); single {
			err = s.addHistoryPart(ctx, at, chunk)
		} else {
			n, err = s.addHistoryPairs(ctx, at, chunk)
		}
		if err != nil {
			err = s.historyErr(err)
			written += n
			if written > 0 {
				return &metering.PartialWriteError{Written: written, Err: err}
			}
			return err
		}
		written += len(chunk)
		part++
	}
	return nil
}

// batchPart names part part of the writer's batch seq.
type batchPart struct {
	writer string
	seq    uint64
	part   int
}

//go:embed history_add.lua
var historyAddSource string

var historyAddScript = redis.NewScript(historyAddSource)

// historyOps builds the arguments of history_add.lua: KEYS (the
// writer's record first) and ARGV (the record's lifetime, the batch's
// Seq and the part's number, then the operations).
type historyOps struct {
	keys []string
	at   map[string]string // key → its index in KEYS (1-based), as ARGV writes it
	args []any
}

func newHistoryOps(record string, p batchPart) *historyOps {
	return &historyOps{
		keys: []string{record},
		at:   map[string]string{},
		args: []any{metering.BatchWindow.Milliseconds(), strconv.FormatUint(p.seq, 10), strconv.Itoa(p.part)},
	}
}

func (o *historyOps) key(k string) string {
	i, ok := o.at[k]
	if !ok {
		o.keys = append(o.keys, k)
		i = strconv.Itoa(len(o.keys))
		o.at[k] = i
	}
	return i
}

// row adds the increments of r to hash k.
func (o *historyOps) row(k string, r metering.Row) {
	field := strconv.FormatInt(r.Start.Unix(), 10) + "/"
	n := len(o.args)
	o.args = append(o.args, "h", o.key(k), 0)
	for i, c := range countsOf(r.Counts) {
		if c != 0 || len(o.args) == n+3 && i == historyCounts-1 {
			o.args = append(o.args, field+strconv.Itoa(i), c)
		}
	}
	o.args[n+2] = (len(o.args) - n - 3) / 2
}

// addHistoryPart writes rows, part p of a batch, on a single server: one
// script, all or nothing.
func (s *Store) addHistoryPart(ctx context.Context, p batchPart, rows []metering.Row) error {
	o := newHistoryOps(s.prefix+"h:w:"+p.writer, p)
	plans := map[string]bool{}
	for _, r := range rows {
		o.row(s.historyKey(r.Plan, r.Key, r.Granularity), r)
	}
	for _, r := range rows {
		o.args = append(o.args, "z", o.key(s.historyIndex(r.Plan, r.Granularity)), r.Start.Unix(), r.Key)
		if !plans[r.Plan] {
			plans[r.Plan] = true
			o.args = append(o.args, "s", o.key(s.historyPlans()), r.Plan)
		}
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// The transaction loads the script before it runs it: an
		// EVALSHA of an unknown script would fail at EXEC.
		p.ScriptLoad(ctx, historyAddSource)
		historyAddScript.EvalSha(ctx, p, o.keys, o.args...)
		return nil
	})
	return err
}

// addHistoryPairs writes rows, part bp of a batch, on a Ring or a
// Cluster: a script per (plan, key), in its hash slot with the writer's
// record for it, and the index updates, in one pipeline. On an error,
// applied is the number of leading rows whose scripts Redis answered.
func (s *Store) addHistoryPairs(ctx context.Context, bp batchPart, rows []metering.Row) (applied int, err error) {
	type pair struct{ plan, key string }
	groups := map[pair]*historyOps{}
	var order []pair
	of := make([]pair, len(rows))
	for i, r := range rows {
		p := pair{r.Plan, r.Key}
		o := groups[p]
		if o == nil {
			o = newHistoryOps(s.tag(r.Plan, r.Key)+":h:w:"+bp.writer, bp)
			groups[p] = o
			order = append(order, p)
		}
		o.row(s.historyKey(r.Plan, r.Key, r.Granularity), r)
		of[i] = p
	}
	cmds := map[pair]*redis.Cmd{}
	plans := map[string]bool{}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, pr := range order {
			o := groups[pr]
			cmds[pr] = historyAddScript.Eval(ctx, p, o.keys, o.args...)
		}
		for _, r := range rows {
			p.ZAddLT(ctx, s.historyIndex(r.Plan, r.Granularity), redis.Z{Score: float64(r.Start.Unix()), Member: r.Key})
			if !plans[r.Plan] {
				plans[r.Plan] = true
				p.SAdd(ctx, s.historyPlans(), r.Plan)
			}
		}
		return nil
	})
	if err != nil {
		for applied < len(rows) && cmds[of[applied]].Err() == nil {
			applied++
		}
	}
	return applied, err
}

// historyReadBatch bounds the hashes one pipeline reads.
const historyReadBatch = 500

// historyFieldHours bounds the hourly queries that read their rows'
// fields by name (HMGET) rather than each key's whole hash (HGETALL):
// a query of a day asks 120 fields, where the hash of a key active all
// month holds 3,720 (the default retention). Past a week, a key's whole
// hash is about as cheap as the fields named, which a key with few rows
// mostly does not have.
const historyFieldHours = 7 * 24

// historyFields returns the fields of the rows an hourly query selects,
// every count of every hour in [q.From, q.To), or nil: read the whole
// hashes (a daily query, whose rows start at midnight in a zone the
// store does not know, or a long one). Hourly rows start on the hour
// (metering.CheckRows), so these are all the fields the query can find.
func historyFields(q metering.Query) []string {
	first := q.From.Truncate(time.Hour)
	if first.Before(q.From) {
		first = first.Add(time.Hour)
	}
	if q.Granularity != metering.Hour || q.To.Sub(first) > historyFieldHours*time.Hour {
		return nil
	}
	var fields []string
	for h := first; h.Before(q.To); h = h.Add(time.Hour) {
		for i := range historyCounts {
			fields = append(fields, strconv.FormatInt(h.Unix(), 10)+"/"+strconv.Itoa(i))
		}
	}
	return fields
}

// History implements metering.HistoryStore: the plan's index (when q
// names no keys), then the keys' hashes in sorted order, in pipelines
// of historyReadBatch, stopping once q.Limit rows are in hand. A short
// hourly query reads only its rows' fields (historyFields).
func (s *Store) History(ctx context.Context, q metering.Query) ([]metering.Row, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, limiter.ErrStoreClosed
	}
	keys := slices.Clone(q.Keys)
	if len(keys) == 0 {
		var err error
		if keys, err = s.rdb.ZRange(ctx, s.historyIndex(q.Plan, q.Granularity), 0, -1).Result(); err != nil {
			return nil, s.historyErr(err)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	fields := historyFields(q)
	from, to := q.From.Unix(), q.To.Unix()
	var out []metering.Row
	for len(keys) > 0 {
		// Keys are read in sorted order, each key's rows whole, so once
		// the rows in hand reach q.Limit they hold the first q.Limit of
		// the query's (SortRows orders by key, then start): stop there.
		// A pipeline reads no more keys than rows are still missing, as
		// a key with a row in the range gives at least one.
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		n := historyReadBatch
		if q.Limit > 0 {
			n = min(n, q.Limit-len(out))
		}
		chunk := keys[:min(n, len(keys))]
		keys = keys[len(chunk):]
		cmds := make([]redis.Cmder, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range chunk {
				if k := s.historyKey(q.Plan, key, q.Granularity); fields != nil {
					cmds[i] = p.HMGet(ctx, k, fields...)
				} else {
					cmds[i] = p.HGetAll(ctx, k)
				}
			}
			return nil
		})
		if err != nil {
			return nil, s.historyErr(err)
		}
		for i, key := range chunk {
			rows := map[int64]*metering.Counts{}
			err := eachField(cmds[i], fields, func(f, v string) error {
				start, idx, n, err := parseHistoryField(f, v)
				if err != nil || start < from || start >= to {
					return err
				}
				c := rows[start]
				if c == nil {
					c = &metering.Counts{}
					rows[start] = c
				}
				setCount(c, idx, n)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("redisstore: history of %s/%s: %w", q.Plan, key, err)
			}
			for start, c := range rows {
				out = append(out, metering.Row{Plan: q.Plan, Key: key, Granularity: q.Granularity, Start: time.Unix(start, 0).UTC(), Counts: *c})
			}
		}
	}
	metering.SortRows(out)
	if q.Limit > 0 && len(out) > q.Limit {
		out = slices.Clip(out[:q.Limit])
	}
	return out, nil
}

// eachField calls fn with each field and value that cmd, an HGETALL or
// an HMGET of fields, read: the fields an HMGET found.
func eachField(cmd redis.Cmder, fields []string, fn func(f, v string) error) error {
	switch cmd := cmd.(type) {
	case *redis.MapStringStringCmd:
		for f, v := range cmd.Val() {
			if err := fn(f, v); err != nil {
				return err
			}
		}
	case *redis.SliceCmd:
		for i, v := range cmd.Val() {
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("field %q holds a %T", fields[i], v)
			}
			if err := fn(fields[i], s); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseHistoryField(f, v string) (start int64, idx int, n int64, err error) {
	s, i, ok := strings.Cut(f, "/")
	start, err1 := strconv.ParseInt(s, 10, 64)
	idx, err2 := strconv.Atoi(i)
	n, err3 := strconv.ParseInt(v, 10, 64)
	if !ok || err1 != nil || err2 != nil || err3 != nil || idx < 0 || idx >= historyCounts {
		return 0, 0, 0, fmt.Errorf("malformed field %q = %q", f, v)
	}
	return start, idx, n, nil
}

//go:embed history_prune.lua
var historyPruneSource string

// PruneHistory implements metering.HistoryStore. For each plan with
// history, it reads from the plan's index the keys whose oldest row is
// before `before`, deletes those rows (a script per hash, in pipelines)
// and updates the index: a key left with no rows leaves it.
func (s *Store) PruneHistory(ctx context.Context, g metering.Granularity, before time.Time) error {
	if !g.Valid() {
		return fmt.Errorf("redisstore: granularity %d is not Hour or Day", g)
	}
	if s.closed() {
		return limiter.ErrStoreClosed
	}
	plans, err := s.rdb.SMembers(ctx, s.historyPlans()).Result()
	if err != nil {
		return s.historyErr(err)
	}
	b := before.Unix()
	for _, plan := range plans {
		if err := s.prunePlan(ctx, plan, g, b); err != nil {
			return s.historyErr(err)
		}
	}
	return nil
}

func (s *Store) prunePlan(ctx context.Context, plan string, g metering.Granularity, before int64) error {
	index := s.historyIndex(plan, g)
	keys, err := s.rdb.ZRangeByScore(ctx, index, &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(before, 10)}).Result()
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(keys, historyReadBatch) {
		cmds := make([]*redis.Cmd, len(chunk))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range chunk {
				cmds[i] = p.Eval(ctx, historyPruneSource, []string{s.historyKey(plan, key, g)}, before)
			}
			return nil
		}); err != nil {
			return err
		}
		// Keys left empty leave the index; one whose hash a concurrent
		// write has filled again meanwhile is put back.
		var emptied []string
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range chunk {
				oldest, err := cmds[i].Int64Slice()
				if err != nil {
					return err
				}
				if len(oldest) == 0 {
					p.ZRem(ctx, index, key)
					emptied = append(emptied, key)
					continue
				}
				p.ZAddXX(ctx, index, redis.Z{Score: float64(oldest[0]), Member: key})
			}
			return nil
		}); err != nil {
			return err
		}
		if len(emptied) > 0 {
			exists := make([]*redis.IntCmd, len(emptied))
			if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, key := range emptied {
					exists[i] = p.Exists(ctx, s.historyKey(plan, key, g))
				}
				return nil
			}); err != nil {
				return err
			}
			for i, key := range emptied {
				if exists[i].Val() > 0 {
					if err := s.rdb.ZAddLT(ctx, index, redis.Z{Score: float64(before), Member: key}).Err(); err != nil {
						return err
					}
				}
			}
		}
	}
	return s.dropEmptyPlan(ctx, plan)
}

// dropEmptyPlan removes plan from the set of plans once neither of its
// indexes has a key; a plan a concurrent write has added a key to
// meanwhile is put back.
func (s *Store) dropEmptyPlan(ctx context.Context, plan string) error {
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if n, err := s.rdb.ZCard(ctx, s.historyIndex(plan, g)).Result(); err != nil || n > 0 {
			return err
		}
	}
	if err := s.rdb.SRem(ctx, s.historyPlans(), plan).Err(); err != nil {
		return err
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if n, err := s.rdb.ZCard(ctx, s.historyIndex(plan, g)).Result(); err != nil || n > 0 {
			if err == nil {
				err = s.rdb.SAdd(ctx, s.historyPlans(), plan).Err()
			}
			return err
		}
	}
	return nil
}

// HistoryPlans implements metering.HistoryStore.
func (s *Store) HistoryPlans(ctx context.Context) ([]string, error) {
	if s.closed() {
		return nil, limiter.ErrStoreClosed
	}
	plans, err := s.rdb.SMembers(ctx, s.historyPlans()).Result()
	if err != nil {
		return nil, s.historyErr(err)
	}
	slices.Sort(plans)
	return plans, nil
}
