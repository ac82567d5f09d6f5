package cloudapi

import (
	"context"
	"slices"
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
	// orders them. q has been checked (metering.Query.Check).
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
	rows, herr := h.cfg.History.History(c.ctx, q)
	if herr != nil {
		return nil, errorf(CodeInternalError, "the usage history could not be read")
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
