// Command sign prints the headers that sign a request with a key pair,
// for curl and Postman users:
//
//	go run ./examples/sign -id AKID... -secret ... [-algorithm hmac-sha1] \
//	    [-date "Mon, 02 Jan 2006 15:04:05 GMT"] [-headers "x-date source"] [-H "Source: app"]...
//
// Each line is "Name: value"; pass them to curl with -H.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/planguard/planguard/keys"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(2)
	}
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func run(args []string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	id := fs.String("id", "", "secret_id (required)")
	secret := fs.String("secret", "", "secret_key (required)")
	alg := fs.String("algorithm", keys.HMACSHA1, "hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512")
	date := fs.String("date", "", `signing date as "Mon, 02 Jan 2006 15:04:05 GMT" (default now)`)
	list := fs.String("headers", "", `signed headers, space-separated (default "x-date", plus "source" when -H sets Source)`)
	method := fs.String("method", "GET", "request method, for (request-target)")
	target := fs.String("target", "/", "path and query, for (request-target)")
	var extra headerFlags
	fs.Var(&extra, "H", `extra header "Name: value" (repeatable)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" || *secret == "" {
		return errors.New("-id and -secret are required")
	}
	at := now
	if *date != "" {
		t, err := time.Parse(http.TimeFormat, *date)
		if err != nil {
			return fmt.Errorf("-date: %w", err)
		}
		at = t
	}
	r, err := http.NewRequest(*method, "http://localhost"+*target, nil)
	if err != nil {
		return err
	}
	s := &keys.Signer{ID: *id, Secret: keys.NewSecret(*secret), Algorithm: *alg}
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("-H %q: want \"Name: value\"", h)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "source") {
			s.Source = value
		}
		r.Header.Add(name, value)
	}
	if *list != "" {
		s.Headers = strings.Fields(*list)
	}
	if err := s.SignAt(r, at); err != nil {
		return err
	}
	names := s.Headers
	if len(names) == 0 {
		a, _ := keys.ParseAuthorization(r.Header.Get("Authorization"))
		names = a.HeaderNames()
	}
	for _, n := range names {
		if n != keys.RequestTarget {
			fmt.Fprintf(out, "%s: %s\n", http.CanonicalHeaderKey(n), r.Header.Get(n))
		}
	}
	fmt.Fprintf(out, "Authorization: %s\n", r.Header.Get("Authorization"))
	return nil
}
