package metering

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Granularity is the length of a history row: an hour or a day.
type Granularity uint8

const (
	// Hour rows start at each hour in UTC.
	Hour Granularity = iota + 1
	// Day rows start at each midnight in the plan's time zone: a day
	// over a daylight-saving change holds 23 or 25 hours.
	Day
)

// String returns "HOUR" or "DAY" (the admin API's spelling).
func (g Granularity) String() string {
	switch g {
	case Hour:
		return "HOUR"
	case Day:
		return "DAY"
	}
	return fmt.Sprintf("Granularity(%d)", uint8(g))
}

// Valid reports whether g is Hour or Day.
func (g Granularity) Valid() bool { return g == Hour || g == Day }

// ParseGranularity parses "HOUR" or "DAY", in any case.
func ParseGranularity(s string) (Granularity, error) {
	switch {
	case strings.EqualFold(s, "HOUR"):
		return Hour, nil
	case strings.EqualFold(s, "DAY"):
		return Day, nil
	}
	return 0, fmt.Errorf("metering: granularity %q is not HOUR or DAY", s)
}

// Counts are what a history row counts.
type Counts struct {
	Requests     int64 // requests admitted
	Units        int64 // quota units consumed: admitted units plus charged units
	Overage      int64 // charged units that went past the quota (included in Units)
	RefusedRate  int64 // requests refused for a rate limit (QPS)
	RefusedQuota int64 // requests refused because the quota was spent
}

// Add adds o to c. Each count saturates: a sum past math.MaxInt64 is
// math.MaxInt64 and one below math.MinInt64 is math.MinInt64, never a
// wrapped value. Every HistoryStore adds counts this way, so a row's
// counts stop at math.MaxInt64 instead of overflowing.
func (c *Counts) Add(o Counts) {
	c.Requests = satAdd(c.Requests, o.Requests)
	c.Units = satAdd(c.Units, o.Units)
	c.Overage = satAdd(c.Overage, o.Overage)
	c.RefusedRate = satAdd(c.RefusedRate, o.RefusedRate)
	c.RefusedQuota = satAdd(c.RefusedQuota, o.RefusedQuota)
}

// satAdd is a + b, saturated to [math.MinInt64, math.MaxInt64].
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// IsZero reports whether every count is 0.
func (c Counts) IsZero() bool { return c == Counts{} }

// Row is one (plan, key)'s counts over one hour or one day.
type Row struct {
	Plan, Key   string // the usage plan ID and the key's secret_id
	Granularity Granularity
	// Start is the first instant of the row's hour or day, in UTC.
	Start time.Time
	Counts
}

// RecordID identifies the row by its plan, key, granularity and start:
// the same row exported twice has the same ID, and rows of different
// (plan, key, granularity, start) have different IDs. It is the first
// 16 bytes, in hex, of the SHA-256 of the plan ID, the key ID (each
// preceded by its length as a big-endian uint32), the granularity's name
// and the start in Unix seconds (big-endian int64).
func (r Row) RecordID() string {
	h := sha256.New()
	var b [8]byte
	for _, s := range []string{r.Plan, r.Key, r.Granularity.String()} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(b[:], uint64(r.Start.Unix()))
	h.Write(b[:])
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// TimeLayout is how the admin API and the export write times: UTC, to the
// second ("2006-01-02 15:04:05").
const TimeLayout = time.DateTime

// ParseTime parses a time in TimeLayout as UTC. Only that exact form is
// accepted: no fraction of a second, no single-digit hours.
func ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(TimeLayout, s, time.UTC)
	if err != nil || FormatTime(t) != s {
		return time.Time{}, fmt.Errorf("metering: time %q is not YYYY-MM-DD HH:MM:SS (UTC)", s)
	}
	return t, nil
}

// FormatTime writes t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Query selects history rows: those of Plan (and of Keys, when not
// empty) with granularity Granularity whose Start is in [From, To).
type Query struct {
	Plan        string
	Keys        []string // secret_ids; empty means every key of the plan
	Granularity Granularity
	From, To    time.Time
	// Limit bounds the rows returned: a History returns at most Limit
	// rows, the first Limit of those the query selects in the order
	// SortRows defines (by key, then start), and stops reading once it
	// has them, so that a query over many keys and a long range does
	// not load every row it selects. 0 means no limit; a negative Limit
	// is refused (Check). A caller that must refuse a query selecting
	// more than N rows asks for Limit = N+1: N+1 rows back mean there
	// are more than N.
	Limit int
}

// Errors of Query.Check.
var (
	ErrNoPlan    = errors.New("metering: the query names no plan")
	ErrTimeRange = errors.New("metering: the query's start is not before its end")
	ErrLimit     = errors.New("metering: the query's limit is negative")
)

// Check reports what is wrong with q: no plan, a granularity other than
// Hour or Day, From not before To, or a negative Limit.
func (q Query) Check() error {
	switch {
	case q.Limit < 0:
		return fmt.Errorf("%w (%d); 0 means no limit", ErrLimit, q.Limit)
	case q.Plan == "":
		return ErrNoPlan
	case !q.Granularity.Valid():
		return fmt.Errorf("metering: the query's granularity %d is not Hour or Day", q.Granularity)
	case !q.From.Before(q.To):
		return fmt.Errorf("%w (%s, %s)", ErrTimeRange, FormatTime(q.From), FormatTime(q.To))
	}
	return nil
}

// ParseQuery builds a Query from its text form, as the admin API and
// the export command take it: from and to in TimeLayout (UTC), the
// granularity as ParseGranularity reads it. keys may be nil.
func ParseQuery(plan string, keys []string, granularity, from, to string) (Query, error) {
	q := Query{Plan: plan, Keys: keys}
	var errs []error
	var err error
	if q.Granularity, err = ParseGranularity(granularity); err != nil {
		errs = append(errs, err)
	}
	if q.From, err = ParseTime(from); err != nil {
		errs = append(errs, fmt.Errorf("start: %w", err))
	}
	if q.To, err = ParseTime(to); err != nil {
		errs = append(errs, fmt.Errorf("end: %w", err))
	}
	if len(errs) > 0 {
		return Query{}, errors.Join(errs...)
	}
	return q, q.Check()
}

// matches reports whether q selects r (of q's plan and granularity).
func (q Query) matches(r Row) bool {
	return !r.Start.Before(q.From) && r.Start.Before(q.To)
}

// SortRows orders rows by plan, key, granularity and start: the order
// in which every History returns them.
func SortRows(rows []Row) {
	slices.SortFunc(rows, compareRows)
}

func compareRows(a, b Row) int {
	return cmp.Or(
		strings.Compare(a.Plan, b.Plan),
		strings.Compare(a.Key, b.Key),
		cmp.Compare(a.Granularity, b.Granularity),
		a.Start.Compare(b.Start),
	)
}
