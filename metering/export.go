package metering

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Format is an export format.
type Format uint8

const (
	// CSV is comma-separated values (RFC 4180) with a header line.
	CSV Format = iota + 1
	// JSONLines is one JSON object per line (jsonlines.org).
	JSONLines
)

// ParseFormat parses "csv" or "jsonl".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "csv":
		return CSV, nil
	case "jsonl":
		return JSONLines, nil
	}
	return 0, fmt.Errorf("metering: export format %q is not csv or jsonl", s)
}

// Columns are the exported fields, in the order CSV writes them; they
// are also the JSON names. StartTime is in TimeLayout, UTC.
var Columns = []string{"RecordId", "UsagePlanId", "SecretId", "Granularity", "StartTime",
	"Requests", "Units", "Overage", "RefusedRate", "RefusedQuota"}

// exported is a row as JSON lines write it.
type exported struct {
	RecordID     string `json:"RecordId"`
	UsagePlanID  string `json:"UsagePlanId"`
	SecretID     string `json:"SecretId"`
	Granularity  string `json:"Granularity"`
	StartTime    string `json:"StartTime"`
	Requests     int64  `json:"Requests"`
	Units        int64  `json:"Units"`
	Overage      int64  `json:"Overage"`
	RefusedRate  int64  `json:"RefusedRate"`
	RefusedQuota int64  `json:"RefusedQuota"`
}

// Encoder writes rows in an export format; make one with NewEncoder. It
// is not safe for concurrent use. The zero Encoder is not usable.
type Encoder struct {
	f      Format
	buf    *bufio.Writer
	csv    *csv.Writer
	json   *json.Encoder
	header bool
}

// NewEncoder returns an Encoder writing f to w. A CSV header is written
// before the first row (or by Flush when there is none).
func NewEncoder(w io.Writer, f Format) (*Encoder, error) {
	e := &Encoder{f: f, buf: bufio.NewWriter(w)}
	switch f {
	case CSV:
		e.csv = csv.NewWriter(e.buf)
	case JSONLines:
		e.json = json.NewEncoder(e.buf)
	default:
		return nil, fmt.Errorf("metering: unknown export format %d", f)
	}
	return e, nil
}

// Encode writes rows.
func (e *Encoder) Encode(rows ...Row) error {
	for _, r := range rows {
		if err := e.encode(r); err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) encode(r Row) error {
	if e.json != nil {
		return e.json.Encode(exported{
			RecordID: r.RecordID(), UsagePlanID: r.Plan, SecretID: r.Key,
			Granularity: r.Granularity.String(), StartTime: FormatTime(r.Start),
			Requests: r.Requests, Units: r.Units, Overage: r.Overage,
			RefusedRate: r.RefusedRate, RefusedQuota: r.RefusedQuota,
		})
	}
	if err := e.writeHeader(); err != nil {
		return err
	}
	n := strconv.FormatInt
	return e.csv.Write([]string{r.RecordID(), r.Plan, r.Key, r.Granularity.String(), FormatTime(r.Start),
		n(r.Requests, 10), n(r.Units, 10), n(r.Overage, 10), n(r.RefusedRate, 10), n(r.RefusedQuota, 10)})
}

func (e *Encoder) writeHeader() error {
	if e.header {
		return nil
	}
	e.header = true
	return e.csv.Write(Columns)
}

// Flush writes what is buffered to the writer.
func (e *Encoder) Flush() error {
	if e.csv != nil {
		if err := e.writeHeader(); err != nil {
			return err
		}
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	return e.buf.Flush()
}

// Export writes rows to w in f.
func Export(w io.Writer, f Format, rows []Row) error {
	e, err := NewEncoder(w, f)
	if err != nil {
		return err
	}
	if err := e.Encode(rows...); err != nil {
		return err
	}
	return e.Flush()
}
