// Package apilist lists the exported API of a Go package from its source,
// one declaration per line, in the spirit of the Go project's api/
// files. The repository keeps a listing per package under api/, and a test
// fails when the exported API changes without its listing: an API change
// is then always a deliberate, reviewed edit.
//
// It reads syntax only (go/parser), so it needs no build and no
// dependencies: parameter names, comments and unexported declarations do
// not appear; types are printed as written.
package apilist

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Package returns the sorted listing of the exported API of the package in
// dir (its non-test .go files). Every line starts with "pkg name, ". A
// package with no exported declaration, or a main package, lists nothing.
func Package(dir string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" || ignored(f) {
			continue
		}
		files = append(files, f)
	}
	l := &lister{fset: fset}
	for _, f := range files {
		l.pkg = f.Name.Name
		for _, d := range f.Decls {
			l.decl(d)
		}
	}
	slices.Sort(l.lines)
	return slices.Compact(l.lines), nil
}

// ignored reports whether a //go:build line excludes f from every build
// (only "ignore" is recognised: planguard has no platform-specific API).
func ignored(f *ast.File) bool {
	for _, g := range f.Comments {
		for _, c := range g.List {
			if c.Text == "//go:build ignore" {
				return true
			}
		}
	}
	return false
}

type lister struct {
	fset  *token.FileSet
	pkg   string
	lines []string
}

func (l *lister) add(format string, args ...any) {
	l.lines = append(l.lines, "pkg "+l.pkg+", "+fmt.Sprintf(format, args...))
}

// expr prints a type or value expression on one line.
func (l *lister) expr(e ast.Expr) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, l.fset, e); err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func (l *lister) decl(d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		l.fn(d)
	case *ast.GenDecl:
		var lastType ast.Expr // an iota group's constants take the type above
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				l.typ(s)
			case *ast.ValueSpec:
				if s.Type != nil || len(s.Values) > 0 {
					lastType = s.Type
				}
				l.value(d.Tok, s, lastType)
			}
		}
	}
}

func (l *lister) fn(d *ast.FuncDecl) {
	if !d.Name.IsExported() {
		return
	}
	sig := l.signature(d.Type)
	if d.Recv == nil {
		l.add("func %s%s", d.Name.Name, sig)
		return
	}
	recv := d.Recv.List[0].Type
	base := recv
	if star, ok := base.(*ast.StarExpr); ok {
		base = star.X
	}
	switch b := base.(type) {
	case *ast.IndexExpr:
		base = b.X
	case *ast.IndexListExpr:
		base = b.X
	}
	if id, ok := base.(*ast.Ident); !ok || !id.IsExported() {
		return
	}
	l.add("method (%s) %s%s", l.expr(recv), d.Name.Name, sig)
}

// signature prints a function type without parameter names.
func (l *lister) signature(t *ast.FuncType) string {
	var b strings.Builder
	if t.TypeParams != nil {
		b.WriteString("[" + l.fields(t.TypeParams, true) + "]")
	}
	b.WriteString("(" + l.fields(t.Params, false) + ")")
	if t.Results != nil && len(t.Results.List) > 0 {
		res := l.fields(t.Results, false)
		if len(t.Results.List) == 1 && len(t.Results.List[0].Names) <= 1 {
			b.WriteString(" " + res)
		} else {
			b.WriteString(" (" + res + ")")
		}
	}
	return b.String()
}

// fields prints a parameter list, one type per parameter; type parameters
// keep their names, which their constraints and the signature refer to.
func (l *lister) fields(fl *ast.FieldList, named bool) string {
	if fl == nil {
		return ""
	}
	var parts []string
	for _, f := range fl.List {
		t := l.expr(f.Type)
		n := max(len(f.Names), 1)
		for i := range n {
			if named && len(f.Names) > 0 {
				parts = append(parts, f.Names[i].Name+" "+t)
			} else {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, ", ")
}

func (l *lister) typ(s *ast.TypeSpec) {
	if !s.Name.IsExported() {
		return
	}
	name := s.Name.Name
	if s.TypeParams != nil {
		name += "[" + l.fields(s.TypeParams, true) + "]"
	}
	if s.Assign.IsValid() {
		l.add("type %s = %s", name, l.expr(s.Type))
		return
	}
	switch t := s.Type.(type) {
	case *ast.StructType:
		l.add("type %s struct", name)
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				if exportedEmbed(f.Type) {
					l.add("type %s struct, embedded %s", name, l.expr(f.Type))
				}
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					l.add("type %s struct, %s %s", name, n.Name, l.expr(f.Type))
				}
			}
		}
	case *ast.InterfaceType:
		l.add("type %s interface", name)
		for _, m := range t.Methods.List {
			if len(m.Names) == 0 {
				l.add("type %s interface, embedded %s", name, l.expr(m.Type))
				continue
			}
			for _, n := range m.Names {
				if ft, ok := m.Type.(*ast.FuncType); ok {
					l.add("type %s interface, %s%s", name, n.Name, l.signature(ft))
				}
			}
		}
	default:
		l.add("type %s %s", name, l.expr(s.Type))
	}
}

// exportedEmbed reports whether an embedded field's type name is exported.
func exportedEmbed(e ast.Expr) bool {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.SelectorExpr:
			return t.Sel.IsExported()
		case *ast.Ident:
			return t.IsExported()
		case *ast.IndexExpr:
			e = t.X
		default:
			return false
		}
	}
}

func (l *lister) value(tok token.Token, s *ast.ValueSpec, groupType ast.Expr) {
	kind := "var"
	if tok == token.CONST {
		kind = "const"
	}
	for i, n := range s.Names {
		if !n.IsExported() {
			continue
		}
		line := kind + " " + n.Name
		switch {
		case s.Type != nil:
			line += " " + l.expr(s.Type)
		case tok == token.CONST && len(s.Values) == 0 && groupType != nil:
			line += " " + l.expr(groupType)
		}
		// A constant's value is part of its contract; a variable's
		// initial value is not (errors.New("...") and the like).
		if tok == token.CONST && i < len(s.Values) {
			line += " = " + l.expr(s.Values[i])
		}
		l.add("%s", line)
	}
}
