// Command sign prints the headers that sign a request with a key pair,
// for curl and Postman users:
//
//	go run ./examples/sign -id AKID... -secret ... [-algorithm hmac-sha1] \
//	    [-date "Mon, 02 Jan 2006 15:04:05 GMT"] [-headers "x-date x-nonce source"] \
//	    [-url https://api.example.com/release/orders] [-method GET] [-H "Source: app"]...
//	go run ./examples/sign -id AKID... -secret ... -curl https://api.example.com/release/orders
//
// Each line is "Name: value"; pass them to curl with -H, or give -curl
// the URL instead of -url and it prints a ready curl command (quoted for
// a POSIX shell) that sends exactly the signed headers. By default it
// signs x-date, a fresh x-nonce (so that each printed set is unique) and
// source when -H sets Source. Header names in -headers are matched
// ignoring case and signed lowercase. To sign "host" or
// "(request-target)", give the URL the request goes to with -url (or the
// path with -target): the host is printed as it goes on the wire, in
// punycode for an internationalised name.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	list := fs.String("headers", "", `signed headers, space-separated, any case (default "x-date x-nonce", plus "source" when -H sets Source)`)
	method := fs.String("method", "GET", "request method, for (request-target)")
	target := fs.String("target", "", "path and query, for (request-target) (default: -url's, or /)")
	rawURL := fs.String("url", "", `URL the request goes to, for "host" and (request-target) (default http://localhost/)`)
	curlURL := fs.String("curl", "", "print a curl command for this URL instead of header lines (as -url, which it replaces)")
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
	if *curlURL != "" {
		if *rawURL != "" {
			return errors.New("-curl is the URL: give -curl or -url, not both")
		}
		*rawURL = *curlURL
	}
	u := orDefault(*rawURL, "http://localhost/")
	r, err := http.NewRequest(*method, u, nil)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if r.URL.Host == "" {
		return fmt.Errorf("-url %q: want an absolute URL such as https://api.example.com/path", u)
	}
	if *target != "" {
		t, err := url.ParseRequestURI(*target)
		if err != nil || t.Host != "" || !strings.HasPrefix(*target, "/") {
			return fmt.Errorf("-target %q: want a path such as /orders?x=1", *target)
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = t.Path, t.RawPath, t.RawQuery
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
	// Print what net/http puts on the wire for the signed headers.
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		return err
	}
	wire, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return err
	}
	a, err := keys.ParseAuthorization(wire.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	var lines []string // "Name: value", as they go on the wire
	for _, n := range a.HeaderNames() {
		switch n {
		case keys.RequestTarget:
		case "host":
			lines = append(lines, "Host: "+wire.Host)
		default:
			lines = append(lines, http.CanonicalHeaderKey(n)+": "+wire.Header.Get(n))
		}
	}
	lines = append(lines, "Authorization: "+wire.Header.Get("Authorization"))
	if *curlURL == "" {
		for _, l := range lines {
			fmt.Fprintln(out, l)
		}
		return nil
	}
	fmt.Fprint(out, "curl")
	if r.Method != http.MethodGet {
		fmt.Fprintf(out, " -X %s", shellQuote(r.Method))
	}
	for _, l := range lines {
		fmt.Fprintf(out, " \\\n  -H %s", shellQuote(l))
	}
	fmt.Fprintf(out, " \\\n  %s\n", shellQuote(r.URL.String()))
	return nil
}

// shellQuote quotes s for a POSIX shell: in single quotes, where only a
// single quote needs escaping.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
