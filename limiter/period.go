package limiter

import "time"

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
func ParsePeriod(s string) (Period, bool) {
	switch s {
	case "", "total":
		return Total, true
	case "day":
		return Day, true
	case "week":
		return Week, true
	case "month":
		return Month, true
	}
	return Total, false
}

// Window returns the quota period containing now: its start and the start
// of the next one, aligned to calendar boundaries in loc (nil is UTC).
// For Total both are the zero Time. Boundaries are computed with
// time.Date, so days across DST changes last 23 or 25 hours and months
// have their own lengths.
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
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	case Week:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc), time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	default: // Month
		return time.Date(y, m, 1, 0, 0, 0, 0, loc), time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
}
