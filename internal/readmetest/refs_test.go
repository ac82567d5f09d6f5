package readmetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outside matches references to documents a user who clones the
// repository does not have: the project's internal contract (its name in
// capitals, written S[P]EC so that this line is not itself one) and its
// section signs, and paths that climb out of the repository.
var outside = regexp.MustCompile(`S[P]EC|§|\.\./shared/|/work/`)

// TestNoOutsideReferences: README.md, docs/ and every non-test Go file
// (package docs, doc comments) cite nothing outside the repository.
func TestNoOutsideReferences(t *testing.T) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "README.md", strings.HasPrefix(rel, "docs/") && strings.HasSuffix(rel, ".md"),
			strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go"):
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d files; the walk is broken", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d cites %q, which a user of the repository does not have: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
