package metering_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/planguard/planguard/metering"
)

// A Recorder sums what the middleware (or the caller) records; Flush
// (every interval once started, and Close) writes it to the store, from
// which it is read and exported.
func ExampleRecorder() {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	store := &metering.MemoryHistory{}
	rec, err := metering.NewRecorder(store, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	for range 3 {
		rec.Record("usagePlan-kgf82zcd", "AKIDexample", nil, metering.Counts{Requests: 1, Units: 1})
	}
	rec.Record("usagePlan-kgf82zcd", "AKIDexample", nil, metering.Counts{RefusedQuota: 1})
	if err := rec.Close(ctx); err != nil {
		panic(err)
	}
	q, err := metering.ParseQuery("usagePlan-kgf82zcd", nil, "HOUR", "2026-12-05 00:00:00", "2026-12-06 00:00:00")
	if err != nil {
		panic(err)
	}
	rows, err := store.History(ctx, q)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(rows), "row:", rows[0].Requests, "requests,", rows[0].RefusedQuota, "refused")
	if err := metering.Export(os.Stdout, metering.CSV, rows); err != nil {
		panic(err)
	}
	// Output:
	// 1 row: 3 requests, 1 refused
	// RecordId,UsagePlanId,SecretId,Granularity,StartTime,Requests,Units,Overage,RefusedRate,RefusedQuota
	// 5e550b49318da137316fb2e24547a85d,usagePlan-kgf82zcd,AKIDexample,HOUR,2026-12-05 09:00:00,3,3,0,0,1
}
