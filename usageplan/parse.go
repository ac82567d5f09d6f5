package usageplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"
)

// maxDepth bounds the nesting of a config document. A valid config nests
// five levels deep; the bound keeps a hostile document from exhausting
// the stack.
const maxDepth = 64

// node is a JSON value as written in a config document: its kind, its
// position and, for objects, every member in document order (repeated
// names included), so that problems can name a line and column.
type node struct {
	kind    string // "object", "array", "string", "number", "boolean", "null"
	off     int    // byte offset of the value's first character
	str     string // string contents, or a number's literal
	boolean bool
	members []member // objects
	elems   []*node  // arrays
}

type member struct {
	name string
	off  int // byte offset of the name's opening quote
	val  *node
}

// syntaxError is a document that is not JSON, at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// parseDocument reads data, which must hold exactly one JSON value, with
// encoding/json's tokenizer.
func parseDocument(data []byte) (*node, error) {
	p := &parser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	end := p.skipSpace(int(p.dec.InputOffset()))
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &syntaxError{off: end, msg: "data after the top-level value"}
	}
	return n, nil
}

type parser struct {
	data []byte
	dec  *json.Decoder
}

// skipSpace returns the offset of the first character at or after off
// that is not white space or a separator the tokenizer consumes silently.
func (p *parser) skipSpace(off int) int {
	for off < len(p.data) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// token reads the next token and the offset where it starts.
func (p *parser) token() (json.Token, int, error) {
	off := p.skipSpace(int(p.dec.InputOffset()))
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Offset counts the bytes read, the offending one included.
			return nil, 0, &syntaxError{off: max(int(se.Offset)-1, off), msg: se.Error()}
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, 0, &syntaxError{off: len(p.data), msg: "unexpected end of input"}
		}
		return nil, 0, &syntaxError{off: off, msg: err.Error()}
	}
	return tok, off, nil
}

func (p *parser) value(depth int) (*node, error) {
	tok, off, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.valueFrom(tok, off, depth)
}

func (p *parser) valueFrom(tok json.Token, off, depth int) (*node, error) {
	n := &node{off: off}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, &syntaxError{off: off, msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
		}
		if v == '{' {
			return n, p.object(n, depth+1)
		}
		return n, p.array(n, depth+1)
	case string:
		n.kind, n.str = "string", v
	case json.Number:
		n.kind, n.str = "number", string(v)
	case bool:
		n.kind, n.boolean = "boolean", v
	case nil:
		n.kind = "null"
	}
	return n, nil
}

func (p *parser) object(n *node, depth int) error {
	n.kind = "object"
	for {
		tok, off, err := p.token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			return nil
		}
		name := tok.(string) // the tokenizer allows only a string here
		val, err := p.value(depth)
		if err != nil {
			return err
		}
		n.members = append(n.members, member{name: name, off: off, val: val})
	}
}

func (p *parser) array(n *node, depth int) error {
	n.kind = "array"
	for {
		tok, off, err := p.token()
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			return nil
		}
		val, err := p.valueFrom(tok, off, depth)
		if err != nil {
			return err
		}
		n.elems = append(n.elems, val)
	}
}

// cursor is a position in a document: the line and column of byte off.
// Moved forward, it counts from where it was, so that the positions of
// many problems found in document order (the decoder's order) cost one
// pass over the document, not one each.
type cursor struct {
	data           []byte
	off, line, col int
}

// to moves c to byte off of data (at most its end) and returns the
// line and column there, both from 1, the column in runes.
func (c *cursor) to(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	if c.line == 0 || off < c.off || len(data) != len(c.data) || unsafe.SliceData(data) != unsafe.SliceData(c.data) {
		*c = cursor{data: data, line: 1, col: 1}
	}
	seg := data[c.off:off]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		c.line += n
		c.col = utf8.RuneCount(seg[bytes.LastIndexByte(seg, '\n')+1:]) + 1
	} else {
		c.col += utf8.RuneCount(seg)
	}
	c.off = off
	return c.line, c.col
}
