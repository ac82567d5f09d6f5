package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
)

const (
	vectorID     = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	vectorSecret = "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"
)

// The signature vector of the old gateway's documentation, through the
// command.
func TestSignPrintsHeaders(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{
		"-id", vectorID, "-secret", vectorSecret, "-headers", "x-date source",
		"-date", "Mon, 19 Mar 2018 12:08:40 GMT", "-H", "Source: AndriodApp",
	}, &out, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := "X-Date: Mon, 19 Mar 2018 12:08:40 GMT\n" +
		"Source: AndriodApp\n" +
		`Authorization: hmac id="AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", algorithm="hmac-sha1", headers="x-date source", signature="NI05zGaK4h8BfAh6EQ05ZJ2vG4k="` + "\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

type oneKey struct{}

func (oneKey) LookupKey(_ context.Context, id string) (keys.Key, error) {
	if id != vectorID {
		return keys.Key{}, keys.ErrNotFound
	}
	return keys.Key{ID: vectorID, Name: "k", Secret: keys.NewSecret(vectorSecret)}, nil
}

// The printed headers, sent as curl would send them (over loopback),
// verify — with the default headers (a fresh nonce each time, so two runs
// in one second pass a replay cache), capitalised names, the host of
// -url and the request line.
func TestPrintedHeadersVerifyOverLoopback(t *testing.T) {
	now := time.Now()
	v, err := keys.NewVerifier(oneKey{}, keys.VerifierConfig{ReplayCachePerKey: 10, RequireNonce: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.VerifyAt(r, now); err != nil {
			http.Error(w, err.(*keys.AuthError).Message(), http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"default again, same second", nil},
		{"capitalised names", []string{"-headers", "X-Date X-Nonce Source", "-H", "Source: app"}},
		{"host and request line of -url", []string{"-headers", "host x-date x-nonce (request-target)", "-url", srv.URL + "/release/orders?id=7", "-method", "DELETE"}},
		{"blank-padded value", []string{"-headers", "x-date x-nonce x-custom", "-H", "X-Custom: \t padded \t"}},
	} {
		var out bytes.Buffer
		if err := run(append([]string{"-id", vectorID, "-secret", vectorSecret}, tc.args...), &out, now); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		method, path := "GET", "/"
		for i, a := range tc.args {
			switch a {
			case "-method":
				method = tc.args[i+1]
			case "-url":
				path = strings.TrimPrefix(tc.args[i+1], srv.URL)
			}
		}
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		tp := textprotoHeaders(t, out.String())
		for name, vals := range tp {
			if name == "Host" {
				req.Host = vals[0]
				continue
			}
			req.Header[name] = vals
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s\n%s", tc.name, resp.StatusCode, body, out.String())
		}
	}
}

// textprotoHeaders parses the command's "Name: value" lines.
func textprotoHeaders(t *testing.T, s string) http.Header {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n" + strings.ReplaceAll(s, "\n", "\r\n") + "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "" {
		r.Header["Host"] = []string{r.Host}
	}
	return r.Header
}

func TestSignRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-id", "x"},
		{"-id", "x", "-secret", "y", "-date", "yesterday"},
		{"-id", "x", "-secret", "y", "-H", "no colon"},
		{"-id", "x", "-secret", "y", "-algorithm", "md5"},
		{"-id", "x", "-secret", "y", "-headers", "x-date X-DATE"},
		{"-id", "x", "-secret", "y", "-url", "/no/host"},
		{"-id", "x", "-secret", "y", "-target", "orders"},
	} {
		if err := run(args, &bytes.Buffer{}, time.Now()); err == nil {
			t.Errorf("%v: no error", strings.Join(args, " "))
		}
	}
}

// The -curl command, split as a POSIX shell splits it and sent over
// loopback, verifies: method, URL (with a quote in its path) and every
// signed header, host included.
func TestCurlCommandVerifiesOverLoopback(t *testing.T) {
	now := time.Now()
	v, err := keys.NewVerifier(oneKey{}, keys.VerifierConfig{ReplayCachePerKey: 10, RequireNonce: true})
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Method + " " + r.URL.RequestURI()
		if _, err := v.VerifyAt(r, now); err != nil {
			http.Error(w, err.(*keys.AuthError).Message(), http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	err = run([]string{"-id", vectorID, "-secret", vectorSecret, "-method", "DELETE",
		"-headers", "host x-date x-nonce (request-target)", "-curl", srv.URL + "/release/o'rders?id=7"}, &out, now)
	if err != nil {
		t.Fatal(err)
	}
	words := shellSplit(t, out.String())
	if len(words) < 2 || words[0] != "curl" {
		t.Fatalf("not a curl command: %q", out.String())
	}
	method, target := "GET", words[len(words)-1]
	hdr := http.Header{}
	for i := 1; i < len(words)-1; i++ {
		switch words[i] {
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			name, value, _ := strings.Cut(words[i], ": ")
			hdr.Add(name, value)
		default:
			t.Fatalf("unexpected word %q in %q", words[i], out.String())
		}
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	req.Host = hdr.Get("Host")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || seen != "DELETE /release/o'rders?id=7" {
		t.Fatalf("%d %s, served %q\n%s", resp.StatusCode, body, seen, out.String())
	}
	if err := run([]string{"-id", vectorID, "-secret", vectorSecret, "-url", srv.URL, "-curl", srv.URL}, io.Discard, now); err == nil {
		t.Fatal("-url and -curl together: no error")
	}
}

// shellSplit splits a command as a POSIX shell does, for the quoting
// the command prints: single quotes, and backslash-newline between words.
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\n' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
