// Package sample exercises the lister.
package sample

import (
	"context"
	"errors"
	"io"
)

// Mode is an enumeration.
type Mode uint8

const (
	A Mode = iota
	B
	c
)

// Limit is an untyped constant.
const Limit = 100

// ErrX is a sentinel.
var ErrX = errors.New("x")

var hidden int

// Base is embedded.
type Base struct{}

// Thing has exported and unexported fields.
type Thing struct {
	*Base
	Name, secret string
	Size         int
	inner
}

type inner struct{}

// Alias is an alias.
type Alias = Thing

// Doer is an interface.
type Doer interface {
	io.Closer
	Do(ctx context.Context) error
}

// New makes a Thing.
func New(name string, a, b int) (t *Thing, err error) { return nil, nil }

// Name is a value method.
func (t Thing) Name() string { return "" }

// Close is a pointer method.
func (t *Thing) Close() error { return nil }

func (inner) Exported() {}

// Map is generic.
func Map[T, U any](f func(T) U, in ...T) []U { return nil }
