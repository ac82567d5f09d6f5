package usageplan

import (
	"errors"

	"github.com/planguard/planguard/keys"
)

// Sentinel errors of the registry. Every refusal of a change matches one
// of them with errors.Is, and is a *ChangeError (what it concerns, by ID)
// or a *ValidationError (every rule the result would break) with
// errors.As.
var (
	// ErrNotFound: the change names a service, API, environment, key,
	// plan or binding that does not exist.
	ErrNotFound = errors.New("usageplan: not found")
	// ErrExists: the change creates what exists already.
	ErrExists = errors.New("usageplan: already exists")
	// ErrInUse: what the change deletes is still bound (a plan bound to
	// an environment, a service bound by a plan, a key bound to a plan).
	ErrInUse = errors.New("usageplan: in use")
	// ErrInvalidState: the change does not fit the state of what it
	// changes (deleting an enabled key, binding or rotating a disabled
	// one, unbinding APIs from a service-wide binding, demoting an
	// API-scoped one).
	ErrInvalidState = errors.New("usageplan: invalid state")
	// ErrConflict: the result would break the exclusivity rule of
	// bindings (a *binding.Conflict or *binding.MixedScopeError says
	// which plans, key and service environment).
	ErrConflict = errors.New("usageplan: binding conflict")
	// ErrInvalid: a value breaks a rule (a *ValidationError lists every
	// problem with its path).
	ErrInvalid = errors.New("usageplan: invalid")
)

// ChangeError is a change refused because of the state of what it names.
// It matches its sentinel (Err: ErrNotFound, ErrExists, ErrInUse or
// ErrInvalidState) and, when there is one, the more precise error of
// another package (Cause: keys.ErrNotFound, a *keys.StateError...).
type ChangeError struct {
	What string // "service", "key", "plan", "binding", "api"
	ID   string // the service, key or plan ID
	// Detail says what is wrong, naming the IDs involved.
	Detail string
	Err    error
	Cause  error
}

// Error returns the detail and the most precise cause.
func (e *ChangeError) Error() string {
	last := e.Err
	if e.Cause != nil {
		last = e.Cause
	}
	if e.Detail == "" {
		return last.Error()
	}
	return e.Detail + ": " + last.Error()
}

// Unwrap returns the sentinel and the cause.
func (e *ChangeError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func refuse(what, id string, sentinel error, detail string) *ChangeError {
	return &ChangeError{What: what, ID: id, Detail: detail, Err: sentinel}
}

func notFound(kind, id string) error { return refuse(kind, id, ErrNotFound, kind+" "+id) }

// keyNotFound matches both ErrNotFound and keys.ErrNotFound.
func keyNotFound(id string) error {
	e := refuse("key", id, ErrNotFound, "key "+id)
	e.Cause = keys.ErrNotFound
	return e
}

// keyState refuses a change because of a key's state: err is a
// *keys.StateError, matched by sentinel too.
func keyState(id string, sentinel, err error) error {
	e := refuse("key", id, sentinel, "")
	e.Cause = err
	return e
}
