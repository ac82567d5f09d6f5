package limiter

import "time"

// MaxAlerts is the most alert thresholds a Limits may hold.
const MaxAlerts = 10

// Alert reports that a key's quota consumption in a period reached one
// of its plan's thresholds (Limits.Alerts). It is delivered once per
// (plan, key, period, threshold): by the one atomic step (an admitted
// request or a charge) that took the consumption from below the
// threshold to at least it.
type Alert struct {
	Plan, Key string
	// Period is the start of the quota period; the zero Time for a Total
	// quota.
	Period time.Time
	// Threshold is the percentage of Quota reached, 1 to 100.
	Threshold int
	// Used is the units consumed in the period after the step that
	// crossed the threshold, at most Quota (units a charge took past the
	// quota are overage, not consumption).
	Used  int64
	Quota int64
}

// alertLevel is the consumption, in units, at which pct percent of quota
// is reached: ⌈quota×pct/100⌉, without overflow.
func alertLevel(quota int64, pct int) int64 {
	p := int64(pct)
	return quota/100*p + (quota%100*p+99)/100
}

// alertLevels returns lim's thresholds in units, or nil without a hook
// or a quota.
func (l *Limiter) alertLevels(lim *Limits) []int64 {
	if l.onAlert == nil || len(lim.Alerts) == 0 || lim.Quota == Unlimited {
		return nil
	}
	levels := make([]int64, len(lim.Alerts))
	for i, pct := range lim.Alerts {
		levels[i] = alertLevel(lim.Quota, pct)
	}
	return levels
}

// crossing is what one step of a quota did to its alert thresholds:
// bit i of mask is set when the step crossed Alerts[i].
type crossing struct {
	mask   uint64
	used   int64 // consumption after the step
	window int64 // Counter.Window of the period
}

// crossed returns the crossing of a step that took consumption from
// before to after, under lim. Nothing is computed without a hook.
func (l *Limiter) crossed(lim *Limits, before, after, window int64) crossing {
	if l.onAlert == nil || len(lim.Alerts) == 0 || lim.Quota == Unlimited || after <= before {
		return crossing{}
	}
	x := crossing{used: min(after, lim.Quota), window: window}
	for i, pct := range lim.Alerts {
		if lv := alertLevel(lim.Quota, pct); before < lv && lv <= after {
			x.mask |= 1 << i
		}
	}
	return x
}

// deliver calls the hook for each threshold x crossed. No lock is held.
func (l *Limiter) deliver(r *Request, x crossing) {
	if x.mask == 0 {
		return
	}
	var period time.Time
	if x.window != 0 {
		period = time.Unix(x.window, 0).In(locationOf(r.Limits.Location))
	}
	for i, pct := range r.Limits.Alerts {
		if x.mask&(1<<i) != 0 {
			l.onAlert(Alert{Plan: r.Plan, Key: r.Key, Period: period, Threshold: pct, Used: x.used, Quota: r.Limits.Quota})
		}
	}
}

func locationOf(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// checkAlerts validates lim.Alerts.
func checkAlerts(lim *Limits) error {
	if len(lim.Alerts) > MaxAlerts {
		return invalid("%d alerts, at most %d", len(lim.Alerts), MaxAlerts)
	}
	for _, pct := range lim.Alerts {
		if pct < 1 || pct > 100 {
			return invalid("alert threshold %d%% is not 1 to 100", pct)
		}
	}
	return nil
}
