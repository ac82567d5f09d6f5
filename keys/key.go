package keys

import (
	"time"
)

// Status is whether a key may sign requests.
type Status uint8

const (
	// Enabled keys sign requests. It is the zero Status.
	Enabled Status = iota
	// Disabled keys are refused at once and cannot be rotated or bound.
	Disabled
)

// String returns "enabled" or "disabled".
func (s Status) String() string {
	if s == Disabled {
		return "disabled"
	}
	return "enabled"
}

// ParseStatus parses "enabled" or "disabled"; the empty string is Enabled.
func ParseStatus(s string) (Status, error) {
	switch s {
	case "", "enabled":
		return Enabled, nil
	case "disabled":
		return Disabled, nil
	}
	return Enabled, &FieldError{Field: "status", Reason: `must be "enabled" or "disabled"`}
}

// Key is a key pair: the public secret_id (ID), the secret_key (Secret) and
// its metadata. A Key is a value; the registry stores copies, and the
// lifecycle methods return changed copies rather than mutating. Copies
// share the Secret's cached HMAC state, which is safe for concurrent use.
// The zero Key is not a usable key (no ID, no secret).
type Key struct {
	ID     string // secret_id
	Name   string
	Secret Secret // secret_key
	// SecretEnv, when set, names the environment variable Secret was read
	// from; config export writes it instead of the secret.
	SecretEnv string
	Status    Status
	Created   time.Time
	Modified  time.Time
}

// New returns an enabled manual key after validating id, name and secret
// (id 5–50 of [A-Za-z0-9_-], secret 10–50 of the same, name 1–50
// of [A-Za-z0-9_]). now stamps Created and Modified.
func New(id, name string, secret Secret, now time.Time) (Key, error) {
	k := Key{ID: id, Name: name, Secret: secret, Created: now, Modified: now}
	return k, k.Validate()
}

// Validate checks every field of k and returns the first problem found as a
// *FieldError.
func (k Key) Validate() error {
	if err := ValidateID(k.ID); err != nil {
		return err
	}
	if err := ValidateName(k.Name); err != nil {
		return err
	}
	if k.Status != Enabled && k.Status != Disabled {
		return &FieldError{Field: "status", Reason: "unknown status"}
	}
	return ValidateSecret(k.Secret)
}

// Enable returns k enabled. Enabling an enabled key is a no-op.
func (k Key) Enable(now time.Time) Key {
	if k.Status != Enabled {
		k.Status, k.Modified = Enabled, now
	}
	return k
}

// Disable returns k disabled. Disabling a disabled key is a no-op.
func (k Key) Disable(now time.Time) Key {
	if k.Status != Disabled {
		k.Status, k.Modified = Disabled, now
	}
	return k
}

// Rotate returns k with a new secret, keeping its ID, name and status (and,
// in the registry, its bindings and consumed quota). A disabled key cannot be
// rotated: the error is ErrDisabled. An invalid secret is a *FieldError.
func (k Key) Rotate(secret Secret, now time.Time) (Key, error) {
	if k.Status == Disabled {
		return k, &StateError{Key: k.ID, Op: "rotate", Err: ErrDisabled}
	}
	if err := ValidateSecret(secret); err != nil {
		return k, err
	}
	k.Secret, k.SecretEnv, k.Modified = secret, "", now
	return k, nil
}
