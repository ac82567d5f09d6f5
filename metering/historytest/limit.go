package historytest

import (
	"errors"
	"testing"

	"github.com/planguard/planguard/metering"
)

// testLimit checks that a query with a Limit returns the first Limit
// rows of the same query without one: several keys (of lengths and
// bytes that order differently by length first than as strings), several
// hours, a key with no row in the range, rows outside it, and rows of
// another plan and granularity that no query here selects.
func testLimit(t *testing.T, s metering.HistoryStore) {
	keys := []string{"b", "aa", "a", "zz", "ab", "c", "ba"}
	var rows []metering.Row
	for i, key := range keys {
		for h := -2; h < 6+i%3; h++ {
			rows = append(rows, hourRow("p", key, h, metering.Counts{Requests: int64(100*i + h + 3)}))
		}
		rows = append(rows,
			hourRow("p2", key, 1, metering.Counts{Requests: 1}),
			hourRow("q", key, 1, metering.Counts{Requests: 1}),
			dayRow("p", key, 0, metering.Counts{Requests: 1}))
	}
	rows = append(rows, hourRow("p", "late", 50, metering.Counts{Requests: 9})) // selected by no range below
	add(t, s, rows...)

	for _, q := range []metering.Query{
		hours("p", 0, 10),
		hours("p", -1, 7),
		func() metering.Query {
			q := hours("p", 0, 10)
			q.Keys = []string{"zz", "late", "a", "ab", "a", "nokey"}
			return q
		}(),
	} {
		all := query(t, s, q)
		if len(all) < 10 {
			t.Fatalf("the unlimited query %+v selects %d rows; the test needs more", q, len(all))
		}
		for _, limit := range []int{1, 2, len(all) / 2, len(all) - 1, len(all), len(all) + 1, 10 * len(all)} {
			lq := q
			lq.Limit = limit
			got := query(t, s, lq)
			want := all
			if limit < len(all) {
				want = all[:limit]
			}
			equal(t, got, want)
		}
	}

	q := hours("p", 0, 10)
	q.Limit = -1
	if _, err := s.History(ctx, q); !errors.Is(err, metering.ErrLimit) {
		t.Fatalf("History with Limit -1: err %v, want ErrLimit", err)
	}
}
