package cloudapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/planguard/planguard/usageplan"
)

// decode reads an action's parameters from the JSON body into a T
// (a struct of pointers and slices, so that unset parameters stay nil).
// A body that is not one JSON object, or a value of the wrong JSON type,
// is InvalidParameter.FormatError; a parameter T does not have, spelled
// exactly (encoding/json alone would match "usageplanid" to
// UsagePlanId), is UnknownParameter. An empty body is {}.
func decode[T any](c *call) (T, *Error) {
	var p T
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		return p, nil
	}
	if body[0] != '{' {
		return p, errorf(CodeInvalidParameterFormat, "the body must be a JSON object of the action's parameters")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, errorf(CodeInvalidParameterFormat, "the body must hold one JSON object")
	}
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		return p, decodeError(err)
	}
	if name := misspelled(raw, reflect.TypeFor[T](), ""); name != "" {
		return p, errorf(CodeUnknownParameter, "unknown parameter %s", quoteShort(name))
	}
	return p, nil
}

// misspelled returns the path of the first object member in v, a
// decoded JSON value, whose name is not one of t's JSON names exactly
// (t's fields' names, or their json tags' names), or "". v decoded into
// t, so a name can only be one of t's in another case.
func misspelled(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return ""
		}
		for name, member := range v {
			f, ok := jsonField(t, name)
			if !ok {
				return path + name
			}
			if bad := misspelled(member, f.Type, path+name+"."); bad != "" {
				return bad
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return ""
		}
		for i, elem := range v {
			if bad := misspelled(elem, t.Elem(), strings.TrimSuffix(path, ".")+"["+strconv.Itoa(i)+"]."); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// jsonField finds the field of struct type t whose JSON name is name,
// in fields embedded without a tag too.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			if g, ok := jsonField(f.Type, name); ok {
				return g, true
			}
		case tag == name || tag == "" && f.Name == name:
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func decodeError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return errorf(CodeInvalidParameterFormat, "the body must be a JSON object of the action's parameters")
		}
		return errorf(CodeInvalidParameterFormat, "parameter %s must be %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return errorf(CodeInvalidParameterFormat, "the body is not valid JSON (at byte %d)", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(CodeUnknownParameter, "unknown parameter %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errorf(CodeInvalidParameterFormat, "the body is not valid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64", "int":
		return "an integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return goKind
}

// required returns *p, or MissingParameter naming it.
func required(name string, p *string) (string, *Error) {
	if p == nil || *p == "" {
		return "", errorf(CodeMissingParameter, "%s is required", name)
	}
	return *p, nil
}

// paging is the Limit and Offset of the list actions.
type paging struct {
	Limit  *int64
	Offset *int64
}

// page checks Limit (default 20, 1–100) and Offset (default 0, not
// negative).
func (p paging) page() (usageplan.Page, *Error) {
	pg := usageplan.Page{Limit: usageplan.DefaultLimit}
	if p.Limit != nil {
		if *p.Limit < 1 || *p.Limit > usageplan.MaxLimit {
			return pg, errorf(CodeRangeExceeded, "Limit must be 1-%d, got %d", usageplan.MaxLimit, *p.Limit)
		}
		pg.Limit = int(*p.Limit)
	}
	if p.Offset != nil {
		if *p.Offset < 0 || *p.Offset > math.MaxInt32 { // an int on every platform
			return pg, errorf(CodeRangeExceeded, "Offset must be 0-%d, got %d", math.MaxInt32, *p.Offset)
		}
		pg.Offset = int(*p.Offset)
	}
	return pg, nil
}

// window returns rows[Offset:Offset+Limit].
func window[T any](rows []T, pg usageplan.Page) []T {
	lo := min(pg.Offset, len(rows))
	hi := min(lo+pg.Limit, len(rows))
	return append([]T{}, rows[lo:hi]...)
}

// Filter is a Describe*Status filter: rows match when the named field
// matches any of the values; several filters must all match.
type Filter struct {
	Name   string
	Values []string
}

// decodeList decodes the parameters of a Describe*Status action
// (Limit, Offset, Filters) and checks the paging and that every filter
// is one of supported.
func decodeList(c *call, supported ...string) ([]Filter, usageplan.Page, *Error) {
	p, err := decode[struct {
		paging
		Filters []Filter
	}](c)
	if err != nil {
		return nil, usageplan.Page{}, err
	}
	pg, err := p.page()
	if err != nil {
		return nil, pg, err
	}
	return p.Filters, pg, checkFilters(p.Filters, supported...)
}

// Bounds of a Describe*Status request's Filters: each value is matched
// against every key or plan, so their number bounds what one request
// costs.
const (
	MaxFilters      = 10  // filters per request
	MaxFilterValues = 100 // values per filter
)

// checkFilters checks that every filter has a supported name and at
// least one value, and the bounds MaxFilters and MaxFilterValues.
func checkFilters(fs []Filter, supported ...string) *Error {
	if len(fs) > MaxFilters {
		return errorf(CodeInvalidParameterValue, "Filters lists %d filters; at most %d", len(fs), MaxFilters)
	}
	for _, f := range fs {
		ok := false
		for _, s := range supported {
			ok = ok || f.Name == s
		}
		if !ok {
			return errorf(CodeInvalidFilterName, "filter %s is not supported; use one of %s", quoteShort(f.Name), strings.Join(supported, ", "))
		}
		if len(f.Values) == 0 {
			return errorf(CodeInvalidParameterValue, "filter %s has no Values", f.Name)
		}
		if len(f.Values) > MaxFilterValues {
			return errorf(CodeInvalidParameterValue, "filter %s lists %d Values; at most %d", f.Name, len(f.Values), MaxFilterValues)
		}
	}
	return nil
}

func anyOf(values []string, match func(string) bool) bool {
	for _, v := range values {
		if match(v) {
			return true
		}
	}
	return false
}
