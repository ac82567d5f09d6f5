package usageplan

import (
	"bytes"
	"encoding/json"
)

// decodeFast decodes a config that has no problem a decoder can see, in
// one pass of encoding/json and one scan of its member names; it returns
// nil for any other document, which decodeConfig then reads slowly,
// reporting every problem with its place. encoding/json alone would
// accept what planguard refuses: member names that differ only in case,
// and members written twice; the scan refuses those.
func decodeFast(data []byte) *Config {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 { // anything after the document
		return nil
	}
	sc := nameScan{data: data}
	sc.skipSpace()
	if sc.i >= len(data) || data[sc.i] != '{' || !sc.value(configShape) {
		return nil
	}
	return &cfg
}

var configShape = shapeOf[Config]()

// nameScan walks a document encoding/json accepted, checking that every
// member name is the exact name of a field of its shape and that no
// object names a member twice.
type nameScan struct {
	data []byte
	i    int
}

func (s *nameScan) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value of shape sh (nil: any shape, not checked).
func (s *nameScan) value(sh *shape) bool {
	s.skipSpace()
	if s.i >= len(s.data) {
		return false
	}
	if sh != nil && !fits(s.data[s.i], sh.kind) {
		return false
	}
	switch s.data[s.i] {
	case '{':
		s.i++
		var names [][]byte
		for {
			s.skipSpace()
			if s.i < len(s.data) && s.data[s.i] == '}' {
				s.i++
				return true
			}
			name, ok := s.str()
			if !ok {
				return false
			}
			for _, n := range names {
				if bytes.Equal(n, name) {
					return false
				}
			}
			names = append(names, name)
			var sub *shape
			if sh != nil {
				if sh.elem != nil && sh.kind == "object" {
					sub = sh.elem
				} else if sub = sh.fields[string(name)]; sub == nil {
					return false
				}
			}
			s.skipSpace()
			if s.i >= len(s.data) || s.data[s.i] != ':' {
				return false
			}
			s.i++
			if !s.value(sub) {
				return false
			}
			s.skipSpace()
			if s.i < len(s.data) && s.data[s.i] == ',' {
				s.i++
			}
		}
	case '[':
		s.i++
		var elem *shape
		if sh != nil {
			elem = sh.elem
		}
		for {
			s.skipSpace()
			if s.i < len(s.data) && s.data[s.i] == ']' {
				s.i++
				return true
			}
			if !s.value(elem) {
				return false
			}
			s.skipSpace()
			if s.i < len(s.data) && s.data[s.i] == ',' {
				s.i++
			}
		}
	case '"':
		_, ok := s.str()
		return ok
	}
	for s.i < len(s.data) { // a number, true, false or null
		switch s.data[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		s.i++
	}
	return true
}

// str scans a string and returns its raw bytes; a string with an escape
// is refused (the slow path decodes it), so that names compare as raw
// bytes.
func (s *nameScan) str() ([]byte, bool) {
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.data); j++ {
		switch s.data[j] {
		case '\\':
			return nil, false
		case '"':
			s.i = j + 1
			return s.data[start:j], true
		}
	}
	return nil, false
}

// fits reports whether a value starting with c has the JSON kind a shape
// wants (null stands for an omitted value anywhere inside the document).
func fits(c byte, kind string) bool {
	switch c {
	case '{':
		return kind == "object"
	case '[':
		return kind == "array"
	case '"':
		return kind == "string"
	case 't', 'f':
		return kind == "boolean"
	case 'n':
		return true
	}
	return kind == "number"
}
