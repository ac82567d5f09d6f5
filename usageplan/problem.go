package usageplan

import (
	"errors"
	"strconv"
	"strings"
	"unicode"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// Problem is one thing wrong with a configuration or a change: where
// (a JSON path such as "plans[1].bindings[0]", and for problems found
// while reading a config document its line and column) and what.
type Problem struct {
	Path string
	// Line and Column (1-based; the column counts characters) locate the
	// problem in the config document: a syntax error, a wrongly typed
	// value, an unknown field or a repeated member. Zero otherwise.
	Line, Column int
	Err          error
}

// Error returns "path: what (line L, column C)", without the parts that
// are unknown.
func (p Problem) Error() string {
	s := oneLine(p.Err.Error())
	if p.Path != "" {
		s = oneLine(p.Path) + ": " + s // an unknown member's name is in its path
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ", column " + strconv.Itoa(p.Column) + ")"
	}
	return s
}

// maxProblemText bounds a problem's message, which may quote what the
// document holds (a name, a number of any length).
const maxProblemText = 500

// oneLine returns s escaped to one line (control characters as Go
// escapes: a string from the document cannot forge another problem's
// line) and cut to maxProblemText bytes, then marked "…".
func oneLine(s string) string {
	clean := !strings.ContainsFunc(s, unicode.IsControl) && len(s) <= maxProblemText
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		next := string(r)
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			next = q[1 : len(q)-1]
		}
		if b.Len()+len(next) > maxProblemText {
			b.WriteString("…")
			break
		}
		b.WriteString(next)
	}
	return b.String()
}

// ValidationError lists every problem found, grouped by the check that
// found it, each group in document order. It unwraps
// to the underlying errors, so errors.As finds a *binding.Conflict, a
// *keys.FieldError and so on.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid, ErrConflict when a problem is a binding
// conflict (a *binding.Conflict or *binding.MixedScopeError), ErrExists
// when one is something bound twice (a *binding.DuplicateError), and
// every problem's error.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, 0, len(e.Problems)+3)
	errs = append(errs, ErrInvalid)
	conflict, dup := false, false
	for _, p := range e.Problems {
		var (
			cf    *binding.Conflict
			mixed *binding.MixedScopeError
			de    *binding.DuplicateError
		)
		if !conflict && (errors.As(p.Err, &cf) || errors.As(p.Err, &mixed)) {
			errs, conflict = append(errs, ErrConflict), true
		}
		if !dup && errors.As(p.Err, &de) {
			errs, dup = append(errs, ErrExists), true
		}
	}
	for _, p := range e.Problems {
		errs = append(errs, p.Err)
	}
	return errs
}

// FieldError is an invalid value of a named field: one type with the
// keys package's, whose Entity says what the field belongs to ("" for a
// key checked by the keys package).
type FieldError = keys.FieldError

// entityOf names the entity a problem path is in: "services[0].apis[1]"
// is an API's, "plans[2]" a plan's.
func entityOf(path string) string {
	switch {
	case strings.HasPrefix(path, "services") && strings.Contains(path, ".apis["):
		return "api"
	case strings.HasPrefix(path, "services"):
		return "service"
	case strings.HasPrefix(path, "keys"):
		return "key"
	}
	return "plan"
}

// problems collects Problems under a path prefix.
type problems struct {
	list []Problem
	pos  cursor // where the last problem found in a document was
}

func (ps *problems) add(path string, err error) {
	ps.list = append(ps.list, Problem{Path: path, Err: err})
}

// at adds a problem found at byte offset off of the config document data.
func (ps *problems) at(data []byte, off int, path string, err error) {
	line, col := ps.pos.to(data, off)
	ps.list = append(ps.list, Problem{Path: path, Line: line, Column: col, Err: err})
}

func (ps *problems) field(path, field, reason string) {
	ps.add(join(path, field), &FieldError{Entity: entityOf(path), Field: field, Reason: reason})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
