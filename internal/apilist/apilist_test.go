package apilist

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the listings under api/ from the source")

// root is the repository's root, seen from this package's directory.
const root = "../.."

// publicDirs returns the repository's directories whose packages users
// import: every directory but internal ones, examples, benchmarks, test
// data and the listings themselves. Nested modules are included: their API
// is planguard's too.
func publicDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case ".git", "internal", "examples", "bench", "testdata", "api":
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// listingPath is where the listing of the package in dir is kept:
// api/<dir>.txt, and api/planguard.txt for the root.
func listingPath(dir string) string {
	rel, _ := filepath.Rel(root, dir)
	if rel == "." {
		rel = "planguard"
	}
	return filepath.Join(root, "api", rel+".txt")
}

func TestAPIListings(t *testing.T) {
	want := map[string]bool{} // listings the source calls for
	for _, dir := range publicDirs(t) {
		lines, err := Package(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(lines) == 0 {
			continue
		}
		path := listingPath(dir)
		want[path] = true
		got := strings.Join(lines, "\n") + "\n"
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		kept, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s has an exported API but no listing %s: run go test ./internal/apilist -update and review it", dir, path)
			continue
		}
		if added, removed := diff(strings.Split(strings.TrimSuffix(string(kept), "\n"), "\n"), lines); len(added)+len(removed) > 0 {
			var b strings.Builder
			for _, l := range added {
				b.WriteString("\n\t+ " + l)
			}
			for _, l := range removed {
				b.WriteString("\n\t- " + l)
			}
			t.Errorf("the exported API of %s changed without %s; if that is deliberate, run go test ./internal/apilist -update and commit the listing with the change:%s",
				dir, path, b.String())
		}
	}
	// A listing whose package is gone (or lost its whole API) is stale.
	err := filepath.WalkDir(filepath.Join(root, "api"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || want[path] {
			return err
		}
		if *update {
			return os.Remove(path)
		}
		t.Errorf("%s lists a package that has no exported API any more: remove it (go test ./internal/apilist -update)", path)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// diff returns the lines of b missing from a (added) and of a missing from
// b (removed). Both are sorted.
func diff(a, b []string) (added, removed []string) {
	for _, l := range b {
		if _, ok := slices.BinarySearch(a, l); !ok {
			added = append(added, l)
		}
	}
	for _, l := range a {
		if _, ok := slices.BinarySearch(b, l); !ok {
			removed = append(removed, l)
		}
	}
	return added, removed
}

// TestPackageListsEveryKind checks the lister on a package written for
// it: each kind of declaration appears once, in the expected form, and
// nothing unexported or test-only does.
func TestPackageListsEveryKind(t *testing.T) {
	got, err := Package("testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pkg sample, const A Mode = iota",
		"pkg sample, const B Mode",
		"pkg sample, const Limit = 100",
		"pkg sample, func Map[T any, U any](func(T) U, ...T) []U",
		"pkg sample, func New(string, int, int) (*Thing, error)",
		"pkg sample, method (*Thing) Close() error",
		"pkg sample, method (Thing) Name() string",
		"pkg sample, type Alias = Thing",
		"pkg sample, type Base struct",
		"pkg sample, type Doer interface",
		"pkg sample, type Doer interface, Do(context.Context) error",
		"pkg sample, type Doer interface, embedded io.Closer",
		"pkg sample, type Mode uint8",
		"pkg sample, type Thing struct",
		"pkg sample, type Thing struct, Name string",
		"pkg sample, type Thing struct, Size int",
		"pkg sample, type Thing struct, embedded *Base",
		"pkg sample, var ErrX",
	}
	if !slices.Equal(got, want) {
		t.Errorf("listing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
