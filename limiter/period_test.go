package limiter

import (
	"archive/zip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tzNames lists every zone of the tz database Go ships, once: a link
// (Asia/Calcutta for Asia/Kolkata) is a copy of its zone's file and is
// left out.
func tzNames(t *testing.T) []string {
	t.Helper()
	z, err := zip.OpenReader(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
	require.NoError(t, err, "the Go distribution's tz database")
	defer z.Close()
	var names []string
	seen := map[[2]uint64]bool{}
	for _, f := range z.File {
		id := [2]uint64{uint64(f.CRC32), f.UncompressedSize64}
		if !strings.HasSuffix(f.Name, "/") && !seen[id] {
			seen[id] = true
			names = append(names, f.Name)
		}
	}
	require.Greater(t, len(names), 300)
	return names
}

// civil is the local date of t in loc, as midnight UTC.
func civil(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// checkDayStart asserts that b is the first instant of local date want:
// b shows that date, the nanosecond before shows an earlier one, and b is
// local midnight or, where midnight does not exist, a zone transition.
func checkDayStart(t *testing.T, b time.Time, want time.Time, loc *time.Location, what string) bool {
	t.Helper()
	lb := b.In(loc)
	if !civil(b, loc).Equal(want) || !civil(b.Add(-time.Nanosecond), loc).Before(want) {
		return assert.Fail(t, "not the first instant of its date", "%s %s in %s: want the first instant of %s", what, lb, loc, want.Format(time.DateOnly))
	}
	zoneStart, _ := lb.ZoneBounds()
	if h, m, s := lb.Clock(); (h != 0 || m != 0 || s != 0 || lb.Nanosecond() != 0) && !zoneStart.Equal(b) {
		return assert.Fail(t, "neither midnight nor a transition", "%s %s in %s", what, lb, loc)
	}
	return true
}

// checkWindow asserts the calendar window of p containing now.
func checkWindow(t *testing.T, p Period, now time.Time, loc *time.Location) bool {
	t.Helper()
	start, end := p.Window(now, loc)
	if now.Before(start) || !now.Before(end) {
		return assert.Fail(t, "window does not contain now", "%s window [%s, %s) of %s in %s", p, start.In(loc), end.In(loc), now.In(loc), loc)
	}
	day := civil(now, loc)
	var first time.Time
	switch p {
	case Day:
		first = day
	case Week:
		first = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case Month:
		first = day.AddDate(0, 0, 1-day.Day())
	}
	next := first.AddDate(0, 0, 1)
	switch p {
	case Week:
		next = first.AddDate(0, 0, 7)
	case Month:
		next = first.AddDate(0, 1, 0)
	}
	return checkDayStart(t, start, first, loc, p.String()+" start") &&
		checkDayStart(t, end, next, loc, p.String()+" end")
}

// TestWindowInEveryZone checks the day, week and month windows of every
// zone of the tz database from 2015 to 2030, at the nanosecond before
// every local midnight (so every day boundary is checked as the end of one
// window and the start of the next) and around every zone transition:
// the window contains now and runs from the first instant of a local date
// to the first instant of the next period's.
func TestWindowInEveryZone(t *testing.T) {
	from, to := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range tzNames(t) {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err, name)
		ok := true
		// Every local date.
		for d := from; ok && d.Before(to); d = d.AddDate(0, 0, 1) {
			midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
			ok = ok && checkWindow(t, Day, midnight.Add(-time.Nanosecond), loc)
		}
		// Every transition.
		for tr := from; ok && tr.Before(to); {
			_, end := tr.In(loc).ZoneBounds()
			if end.IsZero() {
				break
			}
			for _, now := range []time.Time{end.Add(-time.Nanosecond), end, end.Add(30 * time.Minute), end.Add(-30 * time.Minute)} {
				for _, p := range []Period{Day, Week, Month} {
					ok = ok && checkWindow(t, p, now, loc)
				}
			}
			tr = end
		}
		if !ok {
			t.Logf("first failure in %s", name)
		}
	}
}

func TestWindowAtMidnightDSTChanges(t *testing.T) {
	for name, tc := range map[string]struct {
		zone, now, start, end string // RFC 3339, local
	}{
		// Clocks go from 24:00 back to 23:00: the evening hour repeats on
		// the same date and the next day starts an hour later than a
		// 24-hour day would.
		"Santiago fall back, evening": {"America/Santiago", "2026-04-04T22:00:00-03:00", "2026-04-04T00:00:00-03:00", "2026-04-05T00:00:00-04:00"},
		// Clocks go from 24:00 to 01:00: the day starts at 01:00.
		"Santiago spring forward, evening": {"America/Santiago", "2026-09-05T22:00:00-04:00", "2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00"},
		"Havana spring forward, gap":       {"America/Havana", "2026-03-08T01:30:00-04:00", "2026-03-08T01:00:00-04:00", "2026-03-09T00:00:00-04:00"},
		"Havana spring forward, eve":       {"America/Havana", "2026-03-07T23:30:00-05:00", "2026-03-07T00:00:00-05:00", "2026-03-08T01:00:00-04:00"},
	} {
		t.Run(name, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			require.NoError(t, err)
			now, _ := time.Parse(time.RFC3339, tc.now)
			wantStart, _ := time.Parse(time.RFC3339, tc.start)
			wantEnd, _ := time.Parse(time.RFC3339, tc.end)
			start, end := Day.Window(now, loc)
			assert.True(t, wantStart.Equal(start), "start %s, want %s", start.In(loc), wantStart)
			assert.True(t, wantEnd.Equal(end), "end %s, want %s", end.In(loc), wantEnd)
		})
	}
}

func TestParsePeriod(t *testing.T) {
	for s, want := range map[string]Period{"": Total, "total": Total, "day": Day, "week": Week, "month": Month} {
		p, err := ParsePeriod(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, p, s)
		if s != "" {
			assert.Equal(t, s, p.String())
		}
	}
	_, err := ParsePeriod("year")
	require.EqualError(t, err, `limiter: quota period "year" is not "total", "day", "week" or "month"`)
}

func BenchmarkWindow(b *testing.B) {
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(b, err)
	now := time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		Day.Window(now, loc)
	}
}

// The evening before Havana skips midnight (2026-03-08 00:00 -05 becomes
// 01:00 -04): a refused request at 23:30 may retry at the jump, 30
// minutes later, and the day after runs from then to the next midnight.
func TestQuotaRetryAfterBeforeSkippedMidnight(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	havana, err := time.LoadLocation("America/Havana")
	require.NoError(t, err)
	lim := Limits{QPS: Unlimited, Quota: 1, Period: Day, Location: havana}
	eve := time.Date(2026, 3, 7, 23, 30, 0, 0, havana)
	jump := time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC) // 00:00 -05 = 01:00 -04

	d, _ := l.AllowAt(ctx, eve, Request{Plan: "p", Key: "k", Limits: lim})
	require.True(t, d.Allowed)
	assert.True(t, jump.Equal(d.Reset), "reset %s", d.Reset.In(havana))
	d, _ = l.AllowAt(ctx, eve, Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)
	assert.Equal(t, 30*time.Minute, d.RetryAfter)

	d, _ = l.AllowAt(ctx, jump, Request{Plan: "p", Key: "k", Limits: lim})
	require.True(t, d.Allowed, "a new day at the jump")
	assert.True(t, time.Date(2026, 3, 9, 0, 0, 0, 0, havana).Equal(d.Reset), "reset %s", d.Reset.In(havana))
	d, _ = l.AllowAt(ctx, jump.Add(time.Hour), Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)
	assert.Equal(t, 22*time.Hour, d.RetryAfter)
}
