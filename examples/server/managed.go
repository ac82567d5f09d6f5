package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/redisstore"
	"github.com/planguard/planguard/usageplan"
)

// journalSuffix names managed mode's bbolt journal after -state: the
// journal is a file of its own beside the quota state file (moving the
// quota file away starts usage afresh; moving the journal away loses the
// registry).
const journalSuffix = ".journal"

// openJournal opens managed mode's journal: with -state FILE, the bbolt
// journal FILE.journal; with -redis ADDR, the Redis journal on a client
// of its own. It returns the journal, log attributes that describe it,
// and what closes it.
func openJournal(o options) (usageplan.Journal, []any, func() error, error) {
	switch {
	case o.state != "":
		path := o.state + journalSuffix
		j, err := boltstore.OpenJournal(path, boltstore.JournalConfig{Create: true})
		if err != nil {
			return nil, nil, nil, err
		}
		return j, []any{"journal", "bolt", "journal_file", path}, j.Close, nil
	case o.redis != "":
		rdb := redis.NewClient(&redis.Options{Addr: o.redis, ContextTimeoutEnabled: true})
		j, err := redisstore.NewJournal(rdb, redisstore.JournalConfig{})
		if err != nil {
			rdb.Close()
			return nil, nil, nil, err
		}
		closeAll := func() error { return errors.Join(j.Close(), rdb.Close()) }
		return j, []any{"journal", "redis", "journal_name", redisstore.DefaultJournalName}, closeAll, nil
	}
	return nil, nil, nil, errors.New("-managed needs -state FILE (one node) or -redis ADDR (a fleet) to keep its journal")
}

// journalEmpty reports whether j holds nothing: no checkpoint and no
// entry. Managed mode seeds only an empty journal from -config.
func journalEmpty(ctx context.Context, j usageplan.Journal) (bool, error) {
	rev, _, err := j.Checkpoint(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the journal's checkpoint: %w", err)
	}
	if rev > 0 {
		return false, nil
	}
	es, err := j.Read(ctx, 0, 1)
	if err != nil {
		return false, fmt.Errorf("reading the journal: %w", err)
	}
	return len(es) == 0, nil
}
