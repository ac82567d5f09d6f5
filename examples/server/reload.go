package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/planguard/planguard/usageplan"
)

// reloadConfig is declarative mode's answer to SIGHUP: it reads the
// config at path again and applies the difference to reg in one atomic
// change (consumed quota is kept: the limiter counts by plan and key ID),
// then logs what changed (the typed changes of the new revision). An unreadable or invalid file changes nothing:
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
			"revision", before.Revision())
		return
	}
	after := reg.Snapshot()
	if after.Revision() == before.Revision() {
		log.Info("config reloaded: nothing changed", "config", path, "revision", after.Revision())
		return
	}
	recs, err := reg.Changes(before.Revision())
	if err != nil { // more changes than the registry keeps came in meanwhile
		log.Info("config reloaded", "config", path, "revision_before", before.Revision(), "revision", after.Revision(), "changes", err)
		return
	}
	changes := summarize(before, recs)
	for _, c := range changes {
		log.Info("config reload", "entity", c.entity, "change", c.change, "count", len(c.ids), "ids", firstIDs(c.ids))
	}
	log.Info("config reloaded", "config", path, "revision_before", before.Revision(), "revision", after.Revision())
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

// summarize groups the typed changes of the registry's records by entity
// and kind: added, removed, changed; keys also enabled, disabled. It
// costs what changed, not what the registry holds.
func summarize(before *usageplan.Snapshot, recs []usageplan.Record) []change {
	var out []change
	index := map[[2]string]int{}
	seen := map[[3]string]bool{}
	add := func(entity, kind, id string) {
		if seen[[3]string{entity, kind, id}] {
			return
		}
		seen[[3]string{entity, kind, id}] = true
		i, ok := index[[2]string{entity, kind}]
		if !ok {
			i = len(out)
			index[[2]string{entity, kind}] = i
			out = append(out, change{entity: entity, change: kind})
		}
		out[i].ids = append(out[i].ids, id)
	}
	removedPlans := map[string]bool{}
	for _, rec := range recs {
		for _, c := range rec.Changes {
			if c, ok := c.(usageplan.PlanDeleted); ok {
				removedPlans[c.ID] = true
			}
		}
	}
	for _, rec := range recs {
		for _, c := range rec.Changes {
			switch c := c.(type) {
			case usageplan.ServicePut:
				if _, ok := before.Service(c.Service.ID); ok {
					add("service", "changed", c.Service.ID)
				} else {
					add("service", "added", c.Service.ID)
				}
			case usageplan.ServiceDeleted:
				add("service", "removed", c.ID)
			case usageplan.KeyAdded:
				add("key", "added", c.Key.ID)
			case usageplan.KeyDeleted:
				add("key", "removed", c.ID)
			case usageplan.KeyDisabled:
				add("key", "disabled", c.ID)
			case usageplan.KeyEnabled:
				add("key", "enabled", c.ID)
			case usageplan.KeyUpdated:
				add("key", "changed", c.ID)
			case usageplan.KeyRotated:
				add("key", "changed", c.ID)
			case usageplan.PlanCreated:
				add("plan", "added", c.Plan.ID)
			case usageplan.PlanDeleted:
				add("plan", "removed", c.ID)
			default:
				if id := planOf(c); id != "" && !removedPlans[id] {
					add("plan", "changed", id)
				}
			}
		}
	}
	return out
}

// planOf returns the plan a change of a plan's settings or bindings
// concerns.
func planOf(c usageplan.Change) string {
	switch c := c.(type) {
	case usageplan.PlanUpdated:
		return c.ID
	case usageplan.KeysBound:
		return c.Plan
	case usageplan.KeysUnbound:
		return c.Plan
	case usageplan.PlanBound:
		return c.Plan
	case usageplan.PlanUnbound:
		return c.Plan
	case usageplan.PlanDemoted:
		return c.Plan
	}
	return ""
}
