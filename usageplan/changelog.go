package usageplan

import "fmt"

// changeLog holds the records of a registry's last revisions, up to
// limit changes in all (a record larger than that is not kept).
type changeLog struct {
	limit   int
	records []Record
	changes int    // in records
	dropped uint64 // the last revision not kept
	last    uint64 // the last revision added
}

func (l *changeLog) add(rec Record) {
	l.records = append(l.records, rec)
	l.last = rec.Revision
	l.changes += len(rec.Changes)
	for len(l.records) > 0 && l.changes > l.limit {
		l.dropped = l.records[0].Revision
		l.changes -= len(l.records[0].Changes)
		l.records[0] = Record{}
		l.records = l.records[1:]
	}
}

// after returns the records after revision after.
func (l *changeLog) after(after uint64) ([]Record, error) {
	cur := l.last
	if after >= cur {
		return nil, nil
	}
	if after < l.dropped {
		return nil, fmt.Errorf("usageplan: changes after revision %d (the registry keeps those after %d): %w", after, l.dropped, ErrCompacted)
	}
	i := len(l.records) - int(cur-after)
	return append([]Record(nil), l.records[i:]...), nil
}

// restart empties the log at revision rev, which a checkpoint restored:
// the revisions up to it are no longer listed.
func (l *changeLog) restart(rev uint64) {
	clear(l.records)
	l.records, l.changes, l.dropped, l.last = l.records[:0], 0, rev, rev
}
