package usageplan

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// shape describes the JSON a Go config type accepts, for checkShape.
type shape struct {
	kind   string            // "object", "array", "string", "number"
	fields map[string]*shape // for objects, by exact JSON name
	elem   *shape            // for arrays
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

// checkShape reports every place where v (decoded with UseNumber) does
// not have shape s: wrong types and unknown fields, each with its path.
// null stands for an omitted value and is accepted anywhere.
func checkShape(ps *problems, path string, v any, s *shape) {
	if v == nil {
		return
	}
	switch s.kind {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, typeError("an object", v))
			return
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			fv := obj[name]
			fs, known := s.fields[name]
			if !known {
				ps.add(join(path, name), fmt.Errorf("unknown field %q", name))
				continue
			}
			checkShape(ps, join(path, name), fv, fs)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			ps.add(path, typeError("an array", v))
			return
		}
		for i, ev := range arr {
			checkShape(ps, index(path, i), ev, s.elem)
		}
	case "string":
		if _, ok := v.(string); !ok {
			ps.add(path, typeError("a string", v))
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			ps.add(path, typeError("a number", v))
		}
	}
}

func typeError(want string, got any) error {
	var name string
	switch got.(type) {
	case map[string]any:
		name = "an object"
	case []any:
		name = "an array"
	case string:
		name = "a string"
	case json.Number:
		name = "a number"
	case bool:
		name = "a boolean"
	}
	return fmt.Errorf("must be %s, got %s", want, name)
}
