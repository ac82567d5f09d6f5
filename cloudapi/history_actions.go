package cloudapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

// History is what DescribeUsageHistory reads: the usage history of the
// (plan, key) pairs. *metering.Recorder implements it (the store's rows
// with what it has not written yet), and so does every
// metering.HistoryStore. It is only read. Implementations must be safe
// for concurrent use.
type History interface {
	// History returns the rows q selects, ordered as metering.SortRows
	// orders them; with q.Limit > 0, only the first q.Limit of them,
	// read without reading the rest (DescribeUsageHistory asks for
	// MaxHistoryPageRows+1). q has been checked (metering.Query.Check).
	History(ctx context.Context, q metering.Query) ([]metering.Row, error)
}

// MaxHistorySecretIDs is how many SecretIds one DescribeUsageHistory
// request may name.
const MaxHistorySecretIDs = 100

// UsageHistory is one row of DescribeUsageHistory's UsageHistorySet: a
// key's counts under a plan over one hour (UTC) or one day (in the
// plan's time zone).
type UsageHistory struct {
	UsagePlanID string `json:"UsagePlanId"`
	SecretID    string `json:"SecretId"`
	Granularity string // HOUR or DAY
	// StartTime is the row's first instant, "YYYY-MM-DD HH:MM:SS" in
	// UTC: a day of a plan in Asia/Shanghai starts at 16:00 the day
	// before.
	StartTime    string
	Requests     int64 // requests admitted
	Units        int64 // quota units consumed, overage included
	Overage      int64 // units charged past the quota
	RefusedRate  int64 // requests refused for a rate limit
	RefusedQuota int64 // requests refused for the quota
	// RecordID identifies the row by plan, key, granularity and start
	// (metering.Row.RecordID): the export's RecordId.
	RecordID string `json:"RecordId"`
}

// UsageHistorySet is DescribeUsageHistory's Result.
type UsageHistorySet struct {
	TotalCount      int // rows selected, before Offset and Limit
	UsageHistorySet []UsageHistory
}

type usageHistoryParams struct {
	UsagePlanId *string
	SecretIds   []string
	StartTime   *string
	EndTime     *string
	Granularity *string
	paging
}

// query checks the parameters of DescribeUsageHistory and returns the
// history query they make (its plan not yet looked up).
func (p usageHistoryParams) query() (metering.Query, *Error) {
	plan, err := required("UsagePlanId", p.UsagePlanId)
	if err != nil {
		return metering.Query{}, err
	}
	if len(p.SecretIds) > MaxHistorySecretIDs {
		return metering.Query{}, errorf(CodeInvalidAccessKeyIDs, "SecretIds lists %d IDs; at most %d", len(p.SecretIds), MaxHistorySecretIDs)
	}
	for i, id := range p.SecretIds {
		if keys.ValidateID(id) != nil {
			return metering.Query{}, errorf(CodeInvalidAccessKeyIDs, "SecretIds[%d] %s is not a SecretId", i, quoteShort(id))
		}
		if slices.Contains(p.SecretIds[:i], id) {
			return metering.Query{}, errorf(CodeInvalidAccessKeyIDs, "SecretIds lists %s twice", quoteShort(id))
		}
	}
	q := metering.Query{Plan: plan, Keys: p.SecretIds}
	if q.From, err = historyTime("StartTime", p.StartTime); err != nil {
		return q, err
	}
	if q.To, err = historyTime("EndTime", p.EndTime); err != nil {
		return q, err
	}
	if !q.From.Before(q.To) {
		return q, errorf(CodeInvalidParameterValue, "StartTime %s is not before EndTime %s", metering.FormatTime(q.From), metering.FormatTime(q.To))
	}
	g, err := required("Granularity", p.Granularity)
	if err != nil {
		return q, err
	}
	switch g {
	case "HOUR":
		q.Granularity = metering.Hour
	case "DAY":
		q.Granularity = metering.Day
	default:
		return q, errorf(CodeInvalidParameterValue, "Granularity %s is not HOUR or DAY", quoteShort(g))
	}
	return q, nil
}

// historyTime parses a required time parameter.
func historyTime(name string, v *string) (time.Time, *Error) {
	s, err := required(name, v)
	if err != nil {
		return time.Time{}, err
	}
	t, perr := metering.ParseTime(s)
	if perr != nil {
		return time.Time{}, errorf(CodeInvalidParameterValue, "%s %s is not YYYY-MM-DD HH:MM:SS (UTC)", name, quoteShort(s))
	}
	return t, nil
}

// describeUsageHistory answers the usage history of a plan's keys: a
// plan of the registry, or one deleted since that still has rows in the
// range.
func (h *Handler) describeUsageHistory(c *call) (map[string]any, *Error) {
	p, err := decode[usageHistoryParams](c)
	if err != nil {
		return nil, err
	}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, err
	}
	if h.cfg.History == nil {
		return nil, errorf(CodeUnsupportedOperation, "%s needs a usage history, and none is configured", c.action)
	}
	id := pagedQueryID(c.cred.SecretID, q)
	rows, tooMany, cached := h.historyPages.get(id, c.now, pg.Offset > 0)
	if !cached {
		if !h.historyReads.acquire(c.wait) {
			return nil, errorf(CodeInternalError, "the usage history could not be read: the request was cancelled while waiting")
		}
		// One row past the bound says the query selects too many, and
		// the history reads no more than that.
		bounded := q
		bounded.Limit = MaxHistoryPageRows + 1
		var herr error
		rows, herr = h.cfg.History.History(c.ctx, bounded)
		h.historyReads.release()
		if herr != nil {
			return nil, errorf(CodeInternalError, "the usage history could not be read")
		}
		tooMany = len(rows) > MaxHistoryPageRows
		switch {
		case tooMany:
			h.historyPages.put(id, c.now, nil, true)
			rows = nil
		case pg.Offset+pg.Limit < len(rows): // more pages to come
			h.historyPages.put(id, c.now, rows, false)
		}
	}
	if tooMany {
		return nil, errorf(CodeRangeExceeded, "the query selects more than %d rows; narrow it by SecretIds or by StartTime and EndTime", MaxHistoryPageRows)
	}
	if _, known := c.snap.Plan(q.Plan); !known && len(rows) == 0 {
		return nil, errorf(CodeInvalidUsagePlan, "no usage plan has UsagePlanId %s", quoteShort(q.Plan))
	}
	set := UsageHistorySet{TotalCount: len(rows), UsageHistorySet: []UsageHistory{}}
	for _, r := range window(rows, usageplan.Page{Offset: pg.Offset, Limit: pg.Limit}) {
		set.UsageHistorySet = append(set.UsageHistorySet, UsageHistory{
			UsagePlanID: r.Plan, SecretID: r.Key, Granularity: r.Granularity.String(),
			StartTime: metering.FormatTime(r.Start), Requests: r.Requests, Units: r.Units,
			Overage: r.Overage, RefusedRate: r.RefusedRate, RefusedQuota: r.RefusedQuota,
			RecordID: r.RecordID(),
		})
	}
	return result(set)
}

// Paging through a query's rows. The history answers a query with all
// its rows, up to MaxHistoryPageRows+1 (a store reads every row of the
// keys it selects up to that bound), so that a client paging 100 rows
// at a time would have the history read once per page. The rows of a
// query that has more pages are kept for HistoryPageTTL, and each later
// page (Offset above 0) served from them keeps them that much longer,
// up to HistoryExportMaxAge after they were read: the next pages of the
// same query by the same credential are cut from them, and are
// consistent with the first for up to HistoryExportMaxAge if its pages
// come less than the TTL apart. A first page (Offset 0) does not extend
// them, so that a client polling it sees new rows within the TTL. Each
// credential has its own slots, so another credential's queries do not
// evict them.
const (
	// HistoryPageTTL is how long the rows of a DescribeUsageHistory
	// query with more pages are kept for its next pages, after the
	// query was read and after each later page.
	HistoryPageTTL = 30 * time.Second
	// HistoryExportMaxAge is how long after they were read the rows of
	// a query are kept at most, however often its pages are asked for.
	HistoryExportMaxAge = 10 * time.Minute
	// MaxHistoryPageRows bounds the rows of one DescribeUsageHistory
	// query, and those kept for paging per credential: a query that
	// selects more is refused (InvalidParameterValue.RangeExceeded), and
	// the refusal is kept like rows, so that its next pages are refused
	// without reading the history again. The history is asked for at
	// most MaxHistoryPageRows+1 rows (metering.Query.Limit), so a query
	// refused never has more than that read into memory.
	MaxHistoryPageRows = 1 << 18
	// MaxHistoryReads is how many DescribeUsageHistory requests read
	// the history at once; the others wait (until their client hangs up).
	MaxHistoryReads        = 2
	maxHistoryPagedQueries = 4 // per credential
)

// historyReads bounds the concurrent history reads. Its zero value is
// ready.
type historyReads struct {
	once sync.Once
	sem  chan struct{}
}

// acquire waits for a read slot, or for ctx to end (false).
func (r *historyReads) acquire(ctx context.Context) bool {
	r.once.Do(func() { r.sem = make(chan struct{}, MaxHistoryReads) })
	select {
	case r.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *historyReads) release() { <-r.sem }

// historyPages holds the rows of recent multi-page queries, per
// credential. Its zero value is ready; it is safe for concurrent use.
type historyPages struct {
	mu     sync.Mutex
	byCred map[string][]pagedQuery // oldest first
}

type pagedQuery struct {
	id      pagedQueryKey
	read    time.Time // when the rows were read
	at      time.Time // when they were read, or served for a later page
	rows    []metering.Row
	tooMany bool // the query selects more than MaxHistoryPageRows rows (rows is nil)
}

// pagedQueryKey identifies a query of a credential.
type pagedQueryKey struct {
	cred, plan string
	keys       string // the SecretIds, sorted, joined by commas (which no key ID has)
	g          metering.Granularity
	from, to   int64 // Unix seconds
}

func pagedQueryID(cred string, q metering.Query) pagedQueryKey {
	keys := slices.Clone(q.Keys)
	slices.Sort(keys)
	return pagedQueryKey{cred: cred, plan: q.Plan, keys: strings.Join(keys, ","), g: q.Granularity, from: q.From.Unix(), to: q.To.Unix()}
}

// get returns what is kept for id (its rows, or that it selects too
// many), if read or served for a later page less than HistoryPageTTL
// before now, and read less than HistoryExportMaxAge before it; it
// drops the credential's entries that are older. later (a page after
// the first) keeps id's entry another HistoryPageTTL.
func (hp *historyPages) get(id pagedQueryKey, now time.Time, later bool) (rows []metering.Row, tooMany, ok bool) {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	entries := slices.DeleteFunc(hp.byCred[id.cred], func(e pagedQuery) bool {
		return now.Sub(e.at) >= HistoryPageTTL || now.Sub(e.read) >= HistoryExportMaxAge || now.Before(e.read)
	})
	if len(entries) == 0 {
		delete(hp.byCred, id.cred)
	} else {
		hp.byCred[id.cred] = entries
	}
	for i := range entries {
		if e := &entries[i]; e.id == id {
			if later {
				e.at = now
			}
			return e.rows, e.tooMany, true
		}
	}
	return nil, false, false
}

// put keeps rows (or the refusal) for id, dropping the credential's
// oldest entries to stay within MaxHistoryPageRows and
// maxHistoryPagedQueries. The rows are not changed afterwards: readers
// share them.
func (hp *historyPages) put(id pagedQueryKey, now time.Time, rows []metering.Row, tooMany bool) {
	if len(rows) > MaxHistoryPageRows {
		return
	}
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hp.byCred == nil {
		hp.byCred = map[string][]pagedQuery{}
	}
	entries := slices.DeleteFunc(hp.byCred[id.cred], func(e pagedQuery) bool { return e.id == id })
	entries = append(entries, pagedQuery{id: id, read: now, at: now, rows: rows, tooMany: tooMany})
	total := 0
	for _, e := range entries {
		total += len(e.rows)
	}
	for len(entries) > maxHistoryPagedQueries || total > MaxHistoryPageRows {
		total -= len(entries[0].rows)
		entries = slices.Delete(entries, 0, 1)
	}
	hp.byCred[id.cred] = entries
}
