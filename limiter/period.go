package limiter

import (
	"fmt"
	"time"
)

// Period is how often a quota resets.
type Period uint8

const (
	Total Period = iota // never resets; the zero Period
	Day
	Week // from Monday 00:00
	Month
)

// String returns "total", "day", "week" or "month".
func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return "total"
}

// ParsePeriod parses a Period's String form; "" is Total.
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "", "total":
		return Total, nil
	case "day":
		return Day, nil
	case "week":
		return Week, nil
	case "month":
		return Month, nil
	}
	return Total, fmt.Errorf(`limiter: quota period %q is not "total", "day", "week" or "month"`, s)
}

// Window returns the quota period containing now: its start and the start
// of the next one, aligned to calendar boundaries in loc (nil is UTC).
// For Total both are the zero Time. The period is found from the local
// date of now, and a date starts at its first instant: local midnight,
// the earlier of two where the clocks go back over midnight, or the end
// of the gap where they skip it. So days across DST changes last 23 or 25
// hours (or whatever the change makes them), and months have their own
// lengths.
func (p Period) Window(now time.Time, loc *time.Location) (start, end time.Time) {
	if p == Total {
		return time.Time{}, time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	y, m, d := t.Date()
	switch p {
	case Day:
		return dayStart(y, m, d, loc), dayStart(y, m, d+1, loc)
	case Week:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return dayStart(y, m, d-back, loc), dayStart(y, m, d-back+7, loc)
	default: // Month
		return dayStart(y, m, 1, loc), dayStart(y, m+1, 1, loc)
	}
}

// dayStart returns the first instant of the local date y-m-d (normalised
// as time.Date does) in loc. time.Date alone gets it wrong where a zone
// transition is at midnight: a midnight the clocks skip comes back as an
// hour of the day before, and of a midnight that happens twice it may
// return the second.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	zoneStart, _ := t.ZoneBounds()
	if h, mi, s := t.Clock(); h == 0 && mi == 0 && s == 0 && (zoneStart.IsZero() || t.Sub(zoneStart) > maxOffsetChange) {
		// The common case: t is midnight and no zone before its own
		// can show a later local time, so no earlier midnight exists.
		return t
	}
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalised, for comparing
	// Skipped midnight: the date starts where the gap ends.
	for localDate(t).Before(date) {
		_, next := t.ZoneBounds()
		if next.IsZero() {
			break
		}
		t = next
	}
	// Repeated midnight: the zone before t may show the date already.
	for {
		zoneStart, _ := t.ZoneBounds()
		if zoneStart.IsZero() {
			return t
		}
		prev := zoneStart.Add(-time.Nanosecond)
		if localDate(prev).Before(date) {
			return t
		}
		_, offset := prev.Zone()
		t = time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("", offset)).In(loc)
		if prevStart, _ := prev.ZoneBounds(); t.Before(prevStart) {
			t = prevStart // the date began in an even earlier zone
		}
	}
}

// maxOffsetChange bounds the change of UTC offset at a zone transition:
// offsets range from -12h to +14h.
const maxOffsetChange = 26 * time.Hour

// localDate is t's date in its location, as midnight UTC.
func localDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
