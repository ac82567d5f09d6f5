package usageplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// shape describes the JSON a Go config type accepts, for checkShape.
type shape struct {
	kind   string            // "object", "array", "string", "number", "boolean"
	fields map[string]*shape // for objects, by exact JSON name
	elem   *shape            // for arrays, and for objects of any member names (maps)
}

var numberType = reflect.TypeFor[json.Number]()

func shapeOf[T any]() *shape { return shapeOfType(reflect.TypeFor[T]()) }

func shapeOfType(t reflect.Type) *shape {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == numberType:
		return &shape{kind: "number"}
	case t.Kind() == reflect.String:
		return &shape{kind: "string"}
	case t.Kind() == reflect.Bool:
		return &shape{kind: "boolean"}
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		return &shape{kind: "object", elem: shapeOfType(t.Elem())}
	case t.Kind() == reflect.Slice:
		return &shape{kind: "array", elem: shapeOfType(t.Elem())}
	case t.Kind() == reflect.Struct:
		s := &shape{kind: "object", fields: map[string]*shape{}}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			s.fields[name] = shapeOfType(f.Type)
		}
		return s
	}
	panic("usageplan: no JSON shape for " + t.String())
}

// checkShape reports every place where n does not have shape s: wrong
// types, unknown fields and repeated members, each with its path and
// position. It returns n as encoding/json would decode it into an any
// (with UseNumber), keeping only what fits s: a wrongly typed value, an
// unknown field and the repeats of a member are left out, so that the
// typed decode that follows cannot fail. null stands for an omitted value
// and is accepted anywhere but at the top level.
func checkShape(ps *problems, data []byte, path string, n *node, s *shape) any {
	if n.kind == "null" {
		return nil
	}
	if n.kind != s.kind {
		ps.at(data, n.off, path, &typeError{want: s.kind, got: n.kind})
		return nil
	}
	switch s.kind {
	case "object":
		obj := map[string]any{}
		for _, m := range n.members {
			mpath := join(path, m.name)
			fs, known := s.fields[m.name]
			if s.elem != nil {
				fs, known = s.elem, true
			}
			switch _, seen := obj[m.name]; {
			case !known:
				ps.at(data, m.off, mpath, fmt.Errorf("unknown field %q", m.name))
			case seen:
				ps.at(data, m.off, mpath, errRepeated)
			default:
				obj[m.name] = checkShape(ps, data, mpath, m.val, fs)
			}
		}
		return obj
	case "array":
		arr := make([]any, len(n.elems))
		for i, e := range n.elems {
			arr[i] = checkShape(ps, data, index(path, i), e, s.elem)
		}
		return arr
	case "number":
		return json.Number(n.str)
	case "boolean":
		return n.boolean
	}
	return n.str
}

// errRepeated is a member name written twice in one object. encoding/json
// would silently keep the last value.
var errRepeated = errors.New("repeated")

// typeError is a value of the wrong JSON type. Nothing under its path is
// validated further: the value counts as omitted.
type typeError struct {
	want, got string
}

func (e *typeError) Error() string {
	return fmt.Sprintf("must be %s, got %s", article(e.want), article(e.got))
}

func article(kind string) string {
	switch kind {
	case "null":
		return kind
	case "object", "array":
		return "an " + kind
	}
	return "a " + kind
}
