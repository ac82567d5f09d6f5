package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

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

// openManaged opens managed mode's registry on its journal. An empty
// journal is seeded from -config, when given, as one revision (two
// instances seeding at once apply the same file once: the second finds
// the first's revision and nothing left to change); otherwise -config is
// ignored, and the log says so. It returns the log attributes of the
// mode and what closes the registry and the journal.
func openManaged(ctx context.Context, o options, log *slog.Logger) (*usageplan.Registry, []any, func() error, error) {
	j, attrs, closeJournal, err := openJournal(o)
	if err != nil {
		return nil, nil, nil, err
	}
	empty, err := journalEmpty(ctx, j)
	if err == nil {
		var reg *usageplan.Registry
		if reg, err = usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{}); err == nil {
			closeAll := func() error {
				// A checkpoint on the way out, so that the next instance
				// to start does not replay every revision.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := reg.Checkpoint(ctx)
				return errors.Join(err, reg.Close(), closeJournal())
			}
			attrs = append([]any{"mode", "managed"}, attrs...)
			switch {
			case o.configPath == "":
			case !empty:
				log.Info("-config ignored: the journal already holds the registry", "config", o.configPath)
			default:
				if err = seed(reg, o.configPath, log); err != nil {
					closeAll()
					return nil, nil, nil, err
				}
			}
			return reg, attrs, closeAll, nil
		}
	}
	closeJournal()
	return nil, nil, nil, err
}

// seed applies the config at path to reg, an empty managed registry.
func seed(reg *usageplan.Registry, path string, log *slog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := reg.Load(f); err != nil {
		logConfigProblems(log, path, err)
		return fmt.Errorf("%s: invalid config; the journal stays empty", path)
	}
	log.Info("journal seeded from -config", "config", path, "revision", reg.Snapshot().Revision())
	return nil
}
