// Command usage exports the usage history that planguard keeps per plan
// and key, as CSV or JSON lines: from a running server through its admin
// API (-admin, with the Cloud API 3.0 credential the server was given as
// -admin-id and $PLANGUARD_ADMIN_SECRET), or reading the store directly:
// the bbolt state file of a stopped server (-state), or Redis (-redis).
//
//	PLANGUARD_ADMIN_SECRET=... go run ./examples/usage -admin http://127.0.0.1:8081 -admin-id AKIDadmin -from "2026-11-01 00:00:00" -to "2026-12-01 00:00:00" -granularity day
//	go run ./examples/usage -state usage.db -from "2026-11-01 00:00:00" -to "2026-12-01 00:00:00" -granularity day -format csv
//	go run ./examples/usage -redis 127.0.0.1:6379 -plan usagePlan-gold0001 -from "2026-11-30 00:00:00" -to "2026-12-01 00:00:00"
//
// Rows whose start is in [-from, -to) are written (times in UTC), plan by
// plan, then key by key and by start. Each row's RecordId is derived from
// its plan, key, granularity and start, so exporting the same range again
// gives the same IDs: an import keyed on it does not count a row twice.
// Rows of the current hour or day grow until it ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/redisstore"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	state, redis, plan string
	admin, adminID     string
	adminSecret        keys.Secret    // from $PLANGUARD_ADMIN_SECRET, which is then unset
	query              metering.Query // Plan is set per plan exported
	format             metering.Format
}

// run exports and returns the exit code: 2 for bad flags, 1 for a
// failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage:", err)
		}
		return 2
	}
	if err := export(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "usage:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.state, "state", "", "the bbolt state file of a stopped server")
	fs.StringVar(&o.redis, "redis", "", "the address of the Redis the servers share")
	fs.StringVar(&o.admin, "admin", "", "the admin listener of a running server (http://HOST:PORT), read through DescribeUsageHistory")
	fs.StringVar(&o.adminID, "admin-id", "", "with -admin: the SecretId of the server's -admin-id; its SecretKey is read from $"+adminSecretEnv)
	fs.StringVar(&o.plan, "plan", "", "export this usage plan only (an ID); default: every plan")
	from := fs.String("from", "", `first start to export, "YYYY-MM-DD HH:MM:SS" in UTC (required)`)
	to := fs.String("to", "", `end of the range (excluded), "YYYY-MM-DD HH:MM:SS" in UTC (required)`)
	granularity := fs.String("granularity", "hour", "hour or day (days in each plan's time zone)")
	format := fs.String("format", "csv", "csv or jsonl")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.adminSecret = takeAdminSecret()
	var problems []string
	switch n := btoi(o.state != "") + btoi(o.redis != "") + btoi(o.admin != ""); {
	case n == 0:
		problems = append(problems, "one of -admin, -state and -redis is required")
	case n > 1:
		problems = append(problems, "-admin, -state and -redis are exclusive")
	case o.admin == "" && o.adminID != "":
		problems = append(problems, "-admin-id goes with -admin")
	case o.admin != "":
		if _, err := newAdminClient(o.admin, o.adminID, o.adminSecret); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *from == "" || *to == "" {
		problems = append(problems, "-from and -to are required")
	} else {
		// The plan is checked per plan exported; a placeholder checks
		// the rest here.
		q, err := metering.ParseQuery("-", nil, *granularity, *from, *to)
		if err != nil {
			problems = append(problems, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		o.query = q
	}
	if f, err := metering.ParseFormat(*format); err != nil {
		problems = append(problems, err.Error())
	} else {
		o.format = f
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// history is what the export reads: a store, or a server's admin API.
type history interface {
	History(ctx context.Context, q metering.Query) ([]metering.Row, error)
	HistoryPlans(ctx context.Context) ([]string, error)
	Close() error
}

func open(o options) (history, error) {
	if o.admin != "" {
		c, err := newAdminClient(o.admin, o.adminID, o.adminSecret)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if o.redis != "" {
		return redisstore.Dial(redis.Options{Addr: o.redis}, redisstore.Config{})
	}
	// Say which file is missing, in the words of the command line.
	if _, err := os.Stat(o.state); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist", o.state)
	}
	s, err := boltstore.Open(o.state, boltstore.Config{LockTimeout: time.Second})
	if errors.Is(err, boltstore.ErrLocked) {
		return nil, fmt.Errorf("%w: stop the server that uses it first", err)
	}
	return s, err
}

func export(ctx context.Context, o options, w io.Writer) (err error) {
	store, err := open(o)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	plans := []string{o.plan}
	if o.plan == "" {
		if plans, err = store.HistoryPlans(ctx); err != nil {
			return err
		}
	}
	enc, err := metering.NewEncoder(w, o.format)
	if err != nil {
		return err
	}
	for _, plan := range plans {
		q := o.query
		q.Plan = plan
		rows, err := store.History(ctx, q)
		if err != nil {
			return fmt.Errorf("reading the history of %s: %w", plan, err)
		}
		if err := enc.Encode(rows...); err != nil {
			return err
		}
	}
	return enc.Flush()
}
