package keys

import (
	"errors"
	"fmt"
)

// Sentinel errors of the key lifecycle. Test with errors.Is.
var (
	// ErrDisabled: the operation needs an enabled key.
	ErrDisabled = errors.New("keys: key is disabled")
	// ErrEnabled: the operation needs a disabled key (delete).
	ErrEnabled = errors.New("keys: key is enabled; disable it first")
	// ErrInUse: the key is still bound to a plan.
	ErrInUse = errors.New("keys: key is bound to a usage plan; unbind it first")
	// ErrNotFound: no key has that secret_id.
	ErrNotFound = errors.New("keys: no such key")
	// ErrExists: a key with that secret_id already exists.
	ErrExists = errors.New("keys: key already exists")
)

// StateError is a lifecycle operation refused because of the key's state.
// It unwraps to one of the sentinel errors.
type StateError struct {
	Key string // secret_id
	Op  string // "rotate", "delete", "bind"...
	Err error
}

func (e *StateError) Error() string { return fmt.Sprintf("keys: cannot %s %s: %v", e.Op, e.Key, e.Err) }
func (e *StateError) Unwrap() error { return e.Err }

// FieldError is an invalid field of a key or, with Entity set, of
// another entity of the registry (usageplan.FieldError is this type).
// Its message never contains the value of a secret.
type FieldError struct {
	// Entity is "" for a key; "service", "api", "plan" or "key" for a
	// field the registry checks.
	Entity string
	Field  string // "id", "name", "secret", "status", "qps"...
	Reason string
}

func (e *FieldError) Error() string {
	if e.Entity == "" {
		return "keys: " + e.Field + " " + e.Reason
	}
	return e.Field + " " + e.Reason
}
