// Package readmetest keeps the user documentation true: it compiles the
// Go snippets of README.md and docs/*.md, so that a snippet that no
// longer compiles (a renamed API, an unused variable, a missing import)
// fails the build (TestSnippetsCompile); it runs README's walkthrough
// (TestWalkthrough); and it refuses references to documents outside the
// repository (TestNoOutsideReferences).
//
// What is compiled: every fenced block whose info string is exactly "go".
// A block that is deliberately not Go that compiles (an illustration with
// "…", a call of another vendor's SDK) is fenced "go fragment" instead;
// GitHub still highlights it as Go.
//
// How a block becomes a package (the wrapping rule):
//
//   - A block that begins with "package" is a whole file, compiled as is.
//   - Any other block is a function body: it becomes the body of
//     func snippet() in package snippet. Its leading import lines
//     (import name "path") are moved to the file's imports. Every
//     other package it refers to (fmt.Println, usageplan.LoadConfig) is
//     imported by its name from the table imports below. It may use, as
//     declared but unset package variables, the names in ambient: reg,
//     lim, handler, file, config, ctx, w, r and t. A block may declare
//     these names itself; its own declaration shadows the ambient one.
//
// Each package is built with go build -overlay, virtually inside the
// module that owns the imports it uses (the core module, or the nested
// module of boltstore, redisstore, observe/...), so that nothing is
// written to the source tree and a nested module's own go.mod applies.
package readmetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, relative to this package.
const root = "../.."

// imports are the packages a fragment may use by name without an import
// line.
var imports = map[string]string{
	"context":       "context",
	"errors":        "errors",
	"fmt":           "fmt",
	"io":            "io",
	"json":          "encoding/json",
	"log":           "log",
	"slog":          "log/slog",
	"http":          "net/http",
	"httptest":      "net/http/httptest",
	"net":           "net",
	"os":            "os",
	"signal":        "os/signal",
	"syscall":       "syscall",
	"strings":       "strings",
	"time":          "time",
	"testing":       "testing",
	"filepath":      "path/filepath",
	"usageplan":     "github.com/planguard/planguard/usageplan",
	"limiter":       "github.com/planguard/planguard/limiter",
	"middleware":    "github.com/planguard/planguard/middleware",
	"keys":          "github.com/planguard/planguard/keys",
	"binding":       "github.com/planguard/planguard/binding",
	"metering":      "github.com/planguard/planguard/metering",
	"planguardtest": "github.com/planguard/planguard/planguardtest",
	"cloudapi":      "github.com/planguard/planguard/cloudapi",
	"boltstore":     "github.com/planguard/planguard/boltstore",
	"redisstore":    "github.com/planguard/planguard/redisstore",
	"redis":         "github.com/redis/go-redis/v9",
}

// ambient are the names a fragment may use without declaring them.
const ambient = `
var (
	reg     *usageplan.Registry
	lim     *limiter.Limiter
	handler http.Handler
	file    io.Reader
	config  string
	ctx     context.Context
	w       http.ResponseWriter
	r       *http.Request
	t       *testing.T
)
`

// ambientImports are what ambient needs.
var ambientImports = []string{"context", "io", "net/http", "testing",
	"github.com/planguard/planguard/usageplan", "github.com/planguard/planguard/limiter"}

// nested are the nested modules, by module path, and their directories.
var nested = map[string]string{
	"github.com/planguard/planguard/boltstore":          "boltstore",
	"github.com/planguard/planguard/redisstore":         "redisstore",
	"github.com/planguard/planguard/observe/prometheus": "observe/prometheus",
	"github.com/planguard/planguard/observe/otel":       "observe/otel",
}

// unchecked are pages whose snippets are not compiled yet, and why. A
// page leaves this list when its illustrations are fenced "go fragment"
// and its other blocks compile.
var unchecked = map[string]string{
	"docs/admin-api.md": "owned by the admin API's author; its blocks are illustrations (an SDK call) not yet fenced \"go fragment\"",
	"docs/metering.md":  "owned by the metering author; its blocks are fragments with unused variables not yet fenced \"go fragment\"",
}

type snippet struct {
	file string // relative to the repository root
	line int    // of the opening fence
	code string
}

// fence is an opening fence, indented (in a list item) or not.
var fence = regexp.MustCompile("(?m)^([ \\t]*)```([^\\n`]*)\\n")

// extract returns the blocks of md fenced "go", and the number fenced
// "go fragment".
func extract(name, md string) (out []snippet, fragments int) {
	rest, offset := md, 0
	for {
		m := fence.FindStringSubmatchIndex(rest)
		if m == nil {
			return out, fragments
		}
		indent := rest[m[2]:m[3]]
		info := strings.TrimSpace(rest[m[4]:m[5]])
		body := rest[m[1]:]
		end := strings.Index(body, "\n"+indent+"```")
		if strings.HasPrefix(body, indent+"```") {
			end = -1 // an empty block
		}
		var code string
		if end >= 0 {
			code = dedent(body[:end+1], indent)
		}
		line := 1 + strings.Count(md[:offset+m[0]], "\n")
		switch info {
		case "go":
			out = append(out, snippet{file: name, line: line, code: code})
		case "go fragment":
			fragments++
		}
		skip := m[1] + end + len("\n"+indent+"```")
		if end < 0 {
			skip = m[1]
		}
		offset += skip
		rest = rest[skip:]
	}
}

// dedent removes a list item's indentation from each line of code.
func dedent(code, indent string) string {
	if indent == "" {
		return code
	}
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}

var importLine = regexp.MustCompile(`^import\s+(?:([A-Za-z_][A-Za-z0-9_]*|_|\.)\s+)?("[^"]+")\s*(//.*)?$`)

// wrap returns the file a snippet compiles as.
func wrap(code string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(code), "package ") {
		return code, nil
	}
	// Leading import lines move to the file's imports.
	var own []string
	lines := strings.Split(code, "\n")
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		m := importLine.FindStringSubmatch(l)
		if m == nil {
			break
		}
		own = append(own, strings.TrimSpace(m[1]+" "+m[2]))
	}
	body := strings.Join(lines[i:], "\n")
	// Keep the snippet's lines where they were, so that errors point
	// into it: the body starts on the line after "func snippet() {".
	src := "package snippet\n" + ambient + "func snippet() {\n" + body + "\n}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "snippet.go", src, parser.AllErrors)
	if err != nil {
		return "", fmt.Errorf("does not parse as a function body: %v", err)
	}
	named := map[string]bool{}
	for _, o := range own {
		fields := strings.Fields(o)
		if len(fields) == 2 {
			named[fields[0]] = true
		} else {
			p, _ := strconv.Unquote(fields[0])
			named[p[strings.LastIndex(p, "/")+1:]] = true
		}
	}
	paths := map[string]bool{}
	for _, p := range ambientImports {
		paths[strconv.Quote(p)] = true
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && !named[id.Name] {
				if p, ok := imports[id.Name]; ok && isUnresolved(f, id) {
					paths[strconv.Quote(p)] = true
				}
			}
		}
		return true
	})
	for _, o := range own {
		paths[o] = true
	}
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	sort.Strings(list)
	return "package snippet\n\nimport (\n\t" + strings.Join(list, "\n\t") + "\n)\n" + ambient +
		"func snippet() {\n" + body + "\n}\n", nil
}

// isUnresolved reports whether id is not declared in f: a package name.
func isUnresolved(f *ast.File, id *ast.Ident) bool {
	for _, u := range f.Unresolved {
		if u == id {
			return true
		}
	}
	return false
}

// moduleDir returns the directory (relative to the root) of the module
// that owns src's imports: a nested module if it imports one.
func moduleDir(src string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "snippet.go", src, parser.ImportsOnly)
	if err != nil {
		return "", err
	}
	dir := "."
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		for mod, d := range nested {
			if p == mod || strings.HasPrefix(p, mod+"/") {
				if dir != "." && dir != d {
					return "", fmt.Errorf("imports two nested modules (%s and %s): split it", dir, d)
				}
				dir = d
			}
		}
	}
	return dir, nil
}

// build compiles src as package dir/internal/readmesnippet/name of its
// module, without writing into the source tree.
func build(t *testing.T, src, name string) error {
	t.Helper()
	mod, err := moduleDir(src)
	if err != nil {
		return err
	}
	absMod, err := filepath.Abs(filepath.Join(root, mod))
	if err != nil {
		return err
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "snippet.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		return err
	}
	pkgDir := filepath.Join(absMod, "internal", "readmesnippet", name)
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkgDir, "snippet.go"): file}})
	if err != nil {
		return err
	}
	ov := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(goTool(), "build", "-overlay", ov, "-o", os.DevNull, "./internal/readmesnippet/"+name)
	cmd.Dir = absMod
	// Each module on its own go.mod, as CI tests it.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v\n%s\n--- compiled as (in module %s):\n%s", err, strings.ReplaceAll(out.String(), file, "snippet.go"), mod, numbered(src))
	}
	return nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

// pages returns README.md and docs/*.md, relative to the root.
func pages(t *testing.T) []string {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// TestSnippetsCompile builds every "go" block of README.md and docs/*.md.
func TestSnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds each snippet with the go command")
	}
	readme := 0
	for _, page := range pages(t) {
		if why, ok := unchecked[page]; ok {
			t.Logf("%s not checked: %s", page, why)
			continue
		}
		md, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		snippets, _ := extract(page, string(md))
		if page == "README.md" {
			readme = len(snippets)
		}
		for i, s := range snippets {
			name := fmt.Sprintf("%s:%d", s.file, s.line)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				src, err := wrap(s.code)
				if err == nil {
					err = build(t, src, "s"+strconv.Itoa(i)+strings.NewReplacer("/", "_", ".", "_").Replace(s.file))
				}
				if err != nil {
					t.Errorf("%s: the snippet does not compile: %v", name, err)
				}
			})
		}
	}
	if readme < 3 {
		t.Errorf("README.md has %d go blocks; the extraction is broken", readme)
	}
}

// TestBrokenSnippetFails: the check fails a block that does not compile,
// in the core module and in a nested one, and passes one that does.
func TestBrokenSnippetFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds each snippet with the go command")
	}
	md := "text\n\n```go\nreg, err := usageplan.LoadConfig(file, usageplan.RegistryConfig{})\nif err != nil {\n\tlog.Fatal(err)\n}\nfmt.Println(reg.Snapshot().Version())\n```\n\n" +
		"```go\nx := 1 // declared and not used\n```\n\n" +
		"```go\nstore, err := boltstore.Open(\"quota.db\", boltstore.Config{Create: true})\nif err != nil {\n\tlog.Fatal(err)\n}\ndefer store.Close()\nstore.NoSuchMethod()\n```\n\n" +
		"```go fragment\nthis is not Go\n```\n\n" +
		"```sh\ngo test ./...\n```\n"
	snippets, fragments := extract("test.md", md)
	if len(snippets) != 3 || fragments != 1 {
		t.Fatalf("extracted %d go blocks and %d fragments, want 3 and 1", len(snippets), fragments)
	}
	if snippets[1].line != 11 {
		t.Errorf("second block at line %d, want 11", snippets[1].line)
	}
	for i, want := range []string{"", "declared and not used", "NoSuchMethod"} {
		src, err := wrap(snippets[i].code)
		if err != nil {
			t.Fatal(err)
		}
		err = build(t, src, "selftest"+strconv.Itoa(i))
		switch {
		case want == "" && err != nil:
			t.Errorf("block %d: %v", i, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("block %d: error %v, want one that says %q", i, err, want)
		}
	}
}
