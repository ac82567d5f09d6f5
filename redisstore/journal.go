package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/usageplan"
)

var _ usageplan.Journal = (*Journal)(nil)

// DefaultJournalName is the journal's name when JournalConfig.Name is
// empty.
const DefaultJournalName = "planguard:journal"

// Journal is a usageplan.Journal in Redis: the registry of a fleet in
// managed mode. Every instance holds a Journal on the same Redis (a
// server, or a Cluster) under the same name. It is safe for concurrent
// use. The zero Journal is not usable: make one with NewJournal.
//
// # Layout
//
// A journal named N has two keys, both hash-tagged {N} so that they live
// in one Cluster slot and every script may touch both:
//
//   - {N}:log, a stream: revision r is the entry with ID r-0 and one
//     field, "d", holding the change.
//   - {N}:meta, a hash: "head" (the last revision), "ck" and "state"
//     (the checkpoint's revision and state).
//
// A stream, rather than a list or a hash of entries, because its IDs are
// the revisions: XRANGE from a revision is a seek, not an offset that
// shifts as old entries go; XTRIM MINID drops the compacted entries by
// revision in the same script that writes the checkpoint; and XREAD
// BLOCK wakes a waiting instance on the key itself, which works on a
// Cluster and needs no Pub/Sub channel. The head counter sits beside it
// because a stream compacted up to its last entry is empty.
//
// # Atomicity
//
// Append is one Lua script that compares the head with rev-1 and only
// then adds the entry and moves the head; Compact is one script that
// writes the checkpoint and trims the entries up to it; Read is one
// script that reads the checkpoint, the head and the entries. An Append
// whose reply was lost (a dropped connection, or a client that retries)
// can be sent again: if the very same entry is already at rev, it
// succeeds instead of failing with ErrOutOfDate.
//
// # Waiting
//
// Wait blocks on XREAD in slices of at most half a second, on a
// connection of the client's pool, and returns as soon as an entry after
// the revision is added by any instance. If Redis cannot be reached,
// Wait returns the error at once; the caller retries (and Reads from its
// revision when Redis answers again, so that no change is missed).
//
// # Durability
//
// An appended change is as durable as Redis makes it: run Redis with
// append-only persistence (appendonly yes; appendfsync always if a
// crash of the Redis host must not lose the last second of changes).
// A Redis that lost changes an instance had already read is detected: a
// Read or Wait after a revision the journal no longer reaches fails with
// ErrJournalLost rather than waiting for revisions that will be written
// with other changes.
type Journal struct {
	rdb       redis.UniversalClient
	log, meta string

	mu      sync.Mutex
	closed  bool
	closing chan struct{} // closed by Close
	// history is the journal's history ID as this instance first read
	// it (see appendScript), "" until then.
	history string
}

// The journal's meta hash holds, besides head and the checkpoint, "id":
// a random ID its first append with this code gives it (a journal from
// before keeps none until its next append). A Journal learns it from its
// first call that reads it, and refuses, with ErrJournalLost, a journal
// whose ID is not that one: Redis lost the journal, and a new instance
// started another history in its place, whose revisions would otherwise
// be applied on top of this instance's state.

// checkHistory adopts id, the journal's history ID as just read, or
// reports that it is another history than the one this instance read.
func (j *Journal) checkHistory(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case id == "" && j.history != "":
		return fmt.Errorf("%w: the journal's history ID is gone (its meta was lost)", ErrJournalLost)
	case id != "" && j.history != "" && id != j.history:
		return fmt.Errorf("%w: the journal was started again (history %s, this instance read %s)", ErrJournalLost, id, j.history)
	case j.history == "":
		j.history = id
	}
	return nil
}

// newHistoryID returns a random history ID: 128 bits, in hex.
func newHistoryID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (j *Journal) seenHistory() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.history
}

// JournalConfig configures NewJournal; the zero value is the documented
// default.
type JournalConfig struct {
	// Name is the journal's name, shared by every instance of a fleet
	// (see Journal); empty means DefaultJournalName. It must not contain
	// { or }.
	Name string
}

// ErrJournalLost is returned by Read and Wait after a revision the
// journal does not reach: Redis lost changes this instance had read
// (restarted without persistence, or a failover to a replica that had
// not caught up). The registry keeps serving what it has; an operator
// must restore Redis or rebuild the journal.
var ErrJournalLost = errors.New("redisstore: the journal lost changes this instance had read (Redis restarted without its data?)")

// NewJournal returns the journal named cfg.Name on rdb (a *redis.Client
// or *redis.ClusterClient). It does not contact Redis.
func NewJournal(rdb redis.UniversalClient, cfg JournalConfig) (*Journal, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	name := cfg.Name
	if name == "" {
		name = DefaultJournalName
	}
	if strings.ContainsAny(name, "{}") {
		return nil, errors.New("redisstore: journal Name must not contain { or }: the journal hash-tags its keys")
	}
	tag := "{" + name + "}"
	return &Journal{rdb: rdb, log: tag + ":log", meta: tag + ":meta", closing: make(chan struct{})}, nil
}

// errJournalClosed is returned by a Journal's calls after Close.
var errJournalClosed = errors.New("redisstore: journal closed")

func (j *Journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

func streamID(rev uint64) string { return strconv.FormatUint(rev, 10) + "-0" }

// appendScript appends ARGV[2] at revision ARGV[1] (stream ID ARGV[3])
// for an instance that read history ARGV[4] ("" if none yet), giving
// the journal the history ID ARGV[5] if it has none; it returns the
// journal's history ID.
var appendScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'head', 'id')
local head, id = tonumber(m[1] or '0'), m[2]
if ARGV[4] ~= '' and id ~= ARGV[4] then
	return {err = 'FORKED ' .. tostring(id or '')}
end
local rev = tonumber(ARGV[1])
if rev == head + 1 then
	redis.call('XADD', KEYS[1], ARGV[3], 'd', ARGV[2])
	redis.call('HSET', KEYS[2], 'head', ARGV[1])
	if not id then
		id = ARGV[5]
		redis.call('HSET', KEYS[2], 'id', id)
	end
	return id
end
if rev <= head then
	local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
	if #e == 1 and e[1][2][2] == ARGV[2] then
		return id or ''
	end
end
return {err = 'OUTOFDATE ' .. head}
`)

// Append implements usageplan.Journal. If the very same entry is already
// at rev (an earlier Append whose reply was lost), it returns nil.
func (j *Journal) Append(ctx context.Context, rev uint64, entry []byte) error {
	if j.isClosed() {
		return errJournalClosed
	}
	if rev == 0 {
		return errors.New("redisstore: journal revisions start at 1")
	}
	id, err := appendScript.Run(ctx, j.rdb, []string{j.log, j.meta}, strconv.FormatUint(rev, 10), entry, streamID(rev), j.seenHistory(), newHistoryID()).Text()
	if err != nil {
		if head, ok := strings.CutPrefix(err.Error(), "OUTOFDATE "); ok {
			return fmt.Errorf("%w (revision %d asked, the journal is at %s)", usageplan.ErrOutOfDate, rev, head)
		}
		if id, ok := strings.CutPrefix(err.Error(), "FORKED "); ok {
			return j.checkHistory(id)
		}
		return fmt.Errorf("redisstore: journal append: %w", err)
	}
	return j.checkHistory(id)
}

var readScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'head', 'ck', 'id')
local head, ck, after = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(ARGV[1])
if ARGV[4] ~= '' and m[3] ~= ARGV[4] then
	return {err = 'FORKED ' .. tostring(m[3] or '')}
end
if after < ck then
	return {err = 'COMPACTED ' .. ck}
end
if after > head then
	return {err = 'LOST ' .. head}
end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[3], '+', 'COUNT', ARGV[2])
if #entries == 0 and after < head then
	return {err = 'MISSING ' .. head}
end
return {m[3] or '', entries}
`)

// Read implements usageplan.Journal. limit must be positive. After a
// revision the journal does not reach, or when the entries after it are
// gone though the journal's head is past it, it returns ErrJournalLost.
func (j *Journal) Read(ctx context.Context, after uint64, limit int) ([]usageplan.JournalEntry, error) {
	if j.isClosed() {
		return nil, errJournalClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("redisstore: journal read limit %d, want at least 1", limit)
	}
	reply, err := readScript.Run(ctx, j.rdb, []string{j.log, j.meta}, after, limit, streamID(after), j.seenHistory()).Slice()
	if err != nil {
		if id, ok := strings.CutPrefix(err.Error(), "FORKED "); ok {
			return nil, j.checkHistory(id)
		}
		return nil, j.scriptError(err, after)
	}
	if len(reply) != 2 {
		return nil, fmt.Errorf("redisstore: journal: unexpected read reply %v", reply)
	}
	id, _ := reply[0].(string)
	res, _ := reply[1].([]any)
	if err := j.checkHistory(id); err != nil {
		return nil, err
	}
	out := make([]usageplan.JournalEntry, 0, len(res))
	for _, r := range res {
		e, err := decodeStreamEntry(r)
		if err != nil {
			return nil, err
		}
		if want := after + 1 + uint64(len(out)); e.Revision != want {
			return nil, fmt.Errorf("redisstore: journal: revision %d is missing (read %d)", want, e.Revision)
		}
		out = append(out, e)
	}
	return out, nil
}

// scriptError turns the read script's refusals into errors.
func (j *Journal) scriptError(err error, after uint64) error {
	msg := err.Error()
	if ck, ok := strings.CutPrefix(msg, "COMPACTED "); ok {
		return fmt.Errorf("%w (entries after %d asked, the checkpoint is at %s)", usageplan.ErrCompacted, after, ck)
	}
	if head, ok := strings.CutPrefix(msg, "LOST "); ok {
		return fmt.Errorf("%w: revision %d was read, the journal ends at %s", ErrJournalLost, after, head)
	}
	if head, ok := strings.CutPrefix(msg, "MISSING "); ok {
		// The head says there is more, but its entries are gone (the
		// stream deleted or evicted): a follower would wait on nothing.
		return fmt.Errorf("%w: the journal is at revision %s, but its entries after %d are gone", ErrJournalLost, head, after)
	}
	return fmt.Errorf("redisstore: journal read: %w", err)
}

// decodeStreamEntry decodes one XRANGE entry: [ID, ["d", data]].
func decodeStreamEntry(r any) (usageplan.JournalEntry, error) {
	bad := func() (usageplan.JournalEntry, error) {
		return usageplan.JournalEntry{}, fmt.Errorf("redisstore: journal: malformed entry %.100v", r)
	}
	e, ok := r.([]any)
	if !ok || len(e) != 2 {
		return bad()
	}
	id, ok1 := e[0].(string)
	fields, ok2 := e[1].([]any)
	if !ok1 || !ok2 || len(fields) != 2 || fields[0] != "d" {
		return bad()
	}
	data, ok := fields[1].(string)
	ms, seq, found := strings.Cut(id, "-")
	rev, err := strconv.ParseUint(ms, 10, 64)
	if !ok || !found || seq != "0" || err != nil {
		return bad()
	}
	return usageplan.JournalEntry{Revision: rev, Data: []byte(data)}, nil
}

// waitSlice bounds one blocking XREAD, so that a Wait notices an entry
// appended and compacted away before its XREAD began, and Close.
const waitSlice = 500 * time.Millisecond

// Wait implements usageplan.Journal (see Journal). It returns an error
// once the journal is closed, when Redis fails, and ErrJournalLost after
// a revision the journal does not reach.
func (j *Journal) Wait(ctx context.Context, after uint64) error {
	for {
		if j.isClosed() {
			return errJournalClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		head, err := j.head(ctx)
		switch {
		case err != nil:
			return err
		case head > after:
			return nil
		case head < after:
			return fmt.Errorf("%w: revision %d was read, the journal ends at %d", ErrJournalLost, after, head)
		}
		block := waitSlice
		if d, ok := ctx.Deadline(); ok {
			block = max(min(block, time.Until(d)), time.Millisecond)
		}
		done := make(chan error, 1)
		go func() { // XREAD does not end at ctx's cancellation; Wait does
			done <- j.rdb.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{
				Streams: []string{j.log, streamID(after)}, Count: 1, Block: block,
			}).Err()
		}()
		select {
		case err := <-done:
			switch {
			case err == nil:
				return nil
			case !errors.Is(err, redis.Nil): // redis.Nil: the slice passed
				return fmt.Errorf("redisstore: journal wait: %w", err)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-j.closing:
			return errJournalClosed
		}
	}
}

func (j *Journal) head(ctx context.Context) (uint64, error) {
	v, err := j.rdb.HGet(ctx, j.meta, "head").Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: journal: %w", err)
	}
	head, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: journal: malformed head %q", v)
	}
	return head, nil
}

// Checkpoint implements usageplan.Journal.
func (j *Journal) Checkpoint(ctx context.Context) (uint64, []byte, error) {
	if j.isClosed() {
		return 0, nil, errJournalClosed
	}
	v, err := j.rdb.HMGet(ctx, j.meta, "ck", "state", "id").Result()
	if err != nil {
		return 0, nil, fmt.Errorf("redisstore: journal checkpoint: %w", err)
	}
	rs, _ := v[0].(string)
	state, _ := v[1].(string)
	id, _ := v[2].(string)
	if err := j.checkHistory(id); err != nil {
		return 0, nil, err
	}
	if rs == "" {
		return 0, nil, nil
	}
	rev, err := strconv.ParseUint(rs, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("redisstore: journal: malformed checkpoint revision %q", rs)
	}
	return rev, []byte(state), nil
}

var compactScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'head', 'ck', 'id')
local head, ck, rev = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(ARGV[1])
if ARGV[4] ~= '' and m[3] ~= ARGV[4] then
	return {err = 'FORKED ' .. tostring(m[3] or '')}
end
if rev > head then
	return {err = 'AFTERHEAD ' .. head}
end
if rev > ck then
	redis.call('HSET', KEYS[2], 'ck', ARGV[1], 'state', ARGV[2])
	redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
end
return 1
`)

// Compact implements usageplan.Journal: one script stores the checkpoint
// and deletes the entries up to rev.
func (j *Journal) Compact(ctx context.Context, rev uint64, state []byte) error {
	if j.isClosed() {
		return errJournalClosed
	}
	err := compactScript.Run(ctx, j.rdb, []string{j.log, j.meta}, strconv.FormatUint(rev, 10), state, streamID(rev+1), j.seenHistory()).Err()
	if err != nil {
		if id, ok := strings.CutPrefix(err.Error(), "FORKED "); ok {
			return j.checkHistory(id)
		}
		if head, ok := strings.CutPrefix(err.Error(), "AFTERHEAD "); ok {
			return fmt.Errorf("redisstore: journal checkpoint at revision %d, after the last one (%s)", rev, head)
		}
		return fmt.Errorf("redisstore: journal compact: %w", err)
	}
	return nil
}

// Close implements usageplan.Journal: Waits in progress return, and
// calls after Close return an error. It does not close the client. A
// second Close does nothing.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.closed = true
		close(j.closing)
	}
	return nil
}
