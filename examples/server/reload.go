package main

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// reloadConfig is declarative mode's answer to SIGHUP: it reads the
// config at path again and applies the difference to reg in one atomic
// change (consumed quota is kept: the limiter counts by plan and key ID),
// then logs what changed. An unreadable or invalid file changes nothing:
// every problem is logged, and the server keeps serving what it served.
func reloadConfig(reg *usageplan.Registry, path string, log *slog.Logger) {
	log.Info("SIGHUP: reloading the config", "config", path)
	before := reg.Snapshot()
	f, err := os.Open(path)
	if err != nil {
		log.Error("config reload refused: still serving the previous config", "config", path, "err", err)
		return
	}
	err = reg.Load(f)
	f.Close()
	if err != nil {
		logConfigProblems(log, path, err)
		log.Error("config reload refused: still serving the previous config", "config", path,
			"revision", before.Version())
		return
	}
	after := reg.Snapshot()
	changes := diffSnapshots(before, after)
	if len(changes) == 0 {
		log.Info("config reloaded: nothing changed", "config", path, "revision", after.Version())
		return
	}
	for _, c := range changes {
		log.Info("config reload", "entity", c.entity, "change", c.change, "count", len(c.ids), "ids", firstIDs(c.ids))
	}
	log.Info("config reloaded", "config", path, "revision_before", before.Version(), "revision", after.Version())
}

// logConfigProblems logs each problem of a config error on a line of its
// own.
func logConfigProblems(log *slog.Logger, path string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			log.Error("config problem", "file", path, "problem", line)
		}
	}
}

// loggedIDs bounds the IDs one log line lists.
const loggedIDs = 20

// firstIDs lists up to loggedIDs IDs, and how many more there are.
func firstIDs(ids []string) string {
	if len(ids) <= loggedIDs {
		return strings.Join(ids, ",")
	}
	return fmt.Sprintf("%s,... (%d more)", strings.Join(ids[:loggedIDs], ","), len(ids)-loggedIDs)
}

// change is one kind of change to one kind of entity, with the IDs it
// touched. It never carries a secret.
type change struct {
	entity, change string
	ids            []string
}

// diffSnapshots returns what changed from before to after, by entity and
// kind of change: added, removed, changed; keys also enabled, disabled.
func diffSnapshots(before, after *usageplan.Snapshot) []change {
	var out []change
	add := func(entity, kind string, ids []string) {
		if len(ids) > 0 {
			out = append(out, change{entity, kind, ids})
		}
	}
	s := diffByID(before.Services(), after.Services(), func(s usageplan.Service) string { return s.ID },
		func(a, b usageplan.Service) bool { return reflect.DeepEqual(a, b) })
	add("service", "added", s.added)
	add("service", "removed", s.removed)
	add("service", "changed", s.changed)

	var enabled, disabled, changed []string
	k := diffByID(before.Keys(), after.Keys(), func(k keys.Key) string { return k.ID },
		func(a, b keys.Key) bool {
			switch {
			case a.Status != b.Status && b.Status == keys.Disabled:
				disabled = append(disabled, b.ID)
			case a.Status != b.Status:
				enabled = append(enabled, b.ID)
			case !a.Modified.Equal(b.Modified): // the registry keeps Modified of an unchanged key
				changed = append(changed, b.ID)
			}
			return true // each change is listed above, by kind
		})
	add("key", "added", k.added)
	add("key", "removed", k.removed)
	add("key", "disabled", disabled)
	add("key", "enabled", enabled)
	add("key", "changed", changed)

	p := diffByID(before.Plans(), after.Plans(), func(p usageplan.Plan) string { return p.ID },
		func(a, b usageplan.Plan) bool { return a.Modified.Equal(b.Modified) })
	add("plan", "added", p.added)
	add("plan", "removed", p.removed)
	add("plan", "changed", p.changed)
	return out
}

type idChanges struct{ added, removed, changed []string }

// diffByID compares two lists of entities by ID; same reports whether an
// entity present in both is unchanged.
func diffByID[T any](before, after []T, id func(T) string, same func(a, b T) bool) idChanges {
	var c idChanges
	old := make(map[string]T, len(before))
	for _, e := range before {
		old[id(e)] = e
	}
	for _, e := range after {
		o, ok := old[id(e)]
		switch {
		case !ok:
			c.added = append(c.added, id(e))
		case !same(o, e):
			c.changed = append(c.changed, id(e))
		}
		delete(old, id(e))
	}
	for _, e := range before {
		if _, ok := old[id(e)]; ok {
			c.removed = append(c.removed, id(e))
		}
	}
	return c
}
