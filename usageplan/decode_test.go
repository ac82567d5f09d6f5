package usageplan

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// problemsOf loads doc and returns every problem's Error(), failing the
// test if the config loads.
func problemsOf(t *testing.T, doc string) []string {
	t.Helper()
	_, err := loadString(t, doc)
	require.Error(t, err)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.Error()
	}
	return out
}

func TestSyntaxErrorsHaveLineAndColumn(t *testing.T) {
	for name, tc := range map[string]struct {
		doc, want string
	}{
		"bad character": {
			doc:  "{\n  \"services\": [],\n  \"keys\": [}\n}",
			want: "line 3, column 12",
		},
		"missing comma": {
			doc:  "{\n\t\"plans\": [\n\t\t{\"id\": \"usagePlan-aaaaaaaa\" \"name\": \"a\"}\n\t]\n}",
			want: "line 3, column 31",
		},
		"column counts characters, not bytes": {
			doc:  `{"plans": [{"name": "é", x}]}`,
			want: "line 1, column 26",
		},
		"truncated": {
			doc:  "{\n  \"services\": [",
			want: "line 2, column 16",
		},
		"empty": {
			doc:  "",
			want: "line 1, column 1",
		},
		"data after the value": {
			doc:  "{}\n{}",
			want: "line 2, column 1",
		},
	} {
		t.Run(name, func(t *testing.T) {
			ps := problemsOf(t, tc.doc)
			require.Len(t, ps, 1, "%v", ps)
			assert.Contains(t, ps[0], "invalid JSON")
			assert.Contains(t, ps[0], tc.want)
		})
	}
}

func TestUnknownFieldsAreReportedWithEveryOtherProblem(t *testing.T) {
	ps := problemsOf(t, `{
	  "services": [{"id": "service-abcd1234", "name": "s", "environments": ["release"],
	                "apis": [{"id": "api-aaaaaaaa", "name": "a", "method": "FETCH", "path": "/a", "verb": "GET"}]}],
	  "plans": [{"id": "usagePlan-aaaaaaaa", "name": "bad name", "qps": 0, "qpz": 5}],
	  "extra": true
	}`)
	msg := strings.Join(ps, "\n")
	for _, want := range []string{
		`services[0].apis[0].verb: unknown field "verb" (line 3, column 96)`,
		`plans[0].qpz: unknown field "qpz" (line 4, column 73)`,
		`extra: unknown field "extra" (line 5, column 4)`,
		"services[0].apis[0].method: method must be one of",
		"plans[0].name: name may contain only",
		"plans[0].qps: qps must be",
	} {
		assert.Contains(t, msg, want)
	}
}

func TestTypeErrorsAreReportedWithEveryOtherProblem(t *testing.T) {
	ps := problemsOf(t, `{
	  "keys": [{"id": "k", "name": 5, "secret": "0123456789"}],
	  "plans": ["gold", {"id": "usagePlan-aaaaaaaa", "name": "a", "qps": 0}]
	}`)
	assert.Equal(t, []string{
		"keys[0].name: must be a string, got a number (line 2, column 33)",
		"plans[0]: must be an object, got a string (line 3, column 14)",
		"keys[0].id: " + mustErr(t, `{"keys": [{"id": "k", "name": "n", "secret": "0123456789"}]}`, "keys[0].id"),
		"plans[1].qps: qps must be -1 (unlimited) or 1–2000, got 0",
	}, ps, "a wrongly typed value is reported once, with no follow-up problems under it")
}

// mustErr returns the message of the problem at path when doc loads.
func mustErr(t *testing.T, doc, path string) string {
	t.Helper()
	_, err := loadString(t, doc)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	for _, p := range ve.Problems {
		if p.Path == path {
			return p.Err.Error()
		}
	}
	t.Fatalf("no problem at %s in %v", path, err)
	return ""
}

func TestRepeatedMembersAreReported(t *testing.T) {
	ps := problemsOf(t, `{
	  "services": [{"id": "service-abcd1234", "name": "s", "environments": ["release"],
	    "apis": [{"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a",
	              "auth": "SECRET", "auth": "NONE"}]}],
	  "keys": [{"id": "key01", "name": "k", "secret": "0123456789", "status": "disabled",
	            "secret": "9876543210", "status": "enabled"}],
	  "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "quota": 10, "quota": 100000000,
	             "keys": ["key01"], "Keys": []}],
	  "plans": []
	}`)
	msg := strings.Join(ps, "\n")
	for _, want := range []string{
		"services[0].apis[0].auth: repeated (line 4, column 34)",
		"keys[0].secret: repeated (line 6, column 14)",
		"keys[0].status: repeated (line 6, column 38)",
		"plans[0].quota: repeated (line 7, column 69)",
		`plans[0].Keys: unknown field "Keys"`,
		"plans: repeated (line 9, column 4)",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "0123456789")
	assert.NotContains(t, msg, "9876543210")
}

func TestTopLevelMustBeAnObject(t *testing.T) {
	for doc, want := range map[string]string{
		`null`:         "must be an object, got null",
		` [] `:         "must be an object, got an array",
		`"x"`:          "must be an object, got a string",
		`12`:           "must be an object, got a number",
		`true`:         "must be an object, got a boolean",
		"\n\n  null\n": "(line 3, column 3)",
	} {
		ps := problemsOf(t, doc)
		require.Len(t, ps, 1, doc)
		assert.Contains(t, ps[0], want, doc)
	}
}

// A cursor moved forward, backward, and to another document gives the
// line and column a count from the document's start gives.
func TestCursorCountsLikeAFreshCount(t *testing.T) {
	fresh := func(data []byte, off int) (int, int) {
		off = min(off, len(data))
		start := bytes.LastIndexByte(data[:off], '\n') + 1
		return bytes.Count(data[:off], []byte{'\n'}) + 1, utf8.RuneCount(data[start:off]) + 1
	}
	docs := [][]byte{[]byte("{\"a\": 1,\n  \"é\": [\n\n 2, \"日本\"],\n\"b\": null}"), []byte(`{"one": "line", "ü": 1}`)}
	rng := rand.New(rand.NewPCG(1, 2))
	var c cursor
	for range 2000 {
		data := docs[rng.IntN(len(docs))]
		off := rng.IntN(len(data) + 3)
		for off < len(data) && !utf8.RuneStart(data[off]) {
			off++ // the decoder's offsets start tokens
		}
		line, col := c.to(data, off)
		wantLine, wantCol := fresh(data, off)
		require.Equal(t, [2]int{wantLine, wantCol}, [2]int{line, col}, "offset %d of %q", off, data)
	}
}

// BenchmarkProblemsOnOneLine loads a minified (one-line) config with
// 20,000 unknown fields, each a problem with its line and column: the
// positions cost one pass over the document, not one each.
func BenchmarkProblemsOnOneLine(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`{"services": [], "keys": [], "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p"`)
	for i := range 20_000 {
		fmt.Fprintf(&doc, `, "unknown%05d": 1`, i)
	}
	doc.WriteString(`}]}`)
	data := doc.String()
	for b.Loop() {
		_, err := LoadConfig(strings.NewReader(data), RegistryConfig{})
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 20_000 {
			b.Fatalf("%d problems: %v", len(ve.Problems), err)
		}
	}
}
