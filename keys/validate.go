package keys

import "strconv"

// Lengths of key fields, in bytes (all alphabets are ASCII).
const (
	MinIDLen     = 5
	MaxIDLen     = 50
	MinSecretLen = 10
	MaxSecretLen = 50
	MaxNameLen   = 50

	// AutoIDPrefix starts every generated secret_id.
	AutoIDPrefix = "AKID"
	// AutoIDRandLen is the number of random characters after AutoIDPrefix.
	AutoIDRandLen = 36
	// AutoSecretLen is the length of a generated secret_key.
	AutoSecretLen = 40
)

// ValidateID checks a secret_id: 5–50 of [A-Za-z0-9_-]. Generated IDs
// (AKID + 36 alphanumerics) satisfy it too.
func ValidateID(id string) error {
	return check("id", id, MinIDLen, MaxIDLen, isIDByte)
}

// ValidateSecret checks a secret_key: 10–50 of [A-Za-z0-9_-]. The error
// never quotes the secret.
func ValidateSecret(s Secret) error {
	return check("secret", s.str(), MinSecretLen, MaxSecretLen, isIDByte)
}

// ValidateName checks a key name: 1–50 of [A-Za-z0-9_].
func ValidateName(name string) error {
	return check("name", name, 1, MaxNameLen, isNameByte)
}

func check(field, s string, minLen, maxLen int, ok func(byte) bool) error {
	if len(s) < minLen || len(s) > maxLen {
		return &FieldError{Field: field, Reason: lengthReason(minLen, maxLen, len(s))}
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			reason := "may contain only letters, digits and '_'"
			if field != "name" {
				reason = "may contain only letters, digits, '_' and '-'"
			}
			return &FieldError{Field: field, Reason: reason}
		}
	}
	return nil
}

func lengthReason(minLen, maxLen, got int) string {
	return "must be " + strconv.Itoa(minLen) + "–" + strconv.Itoa(maxLen) + " characters long, got " + strconv.Itoa(got)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
func isNameByte(c byte) bool { return isAlnum(c) || c == '_' }
func isIDByte(c byte) bool   { return isNameByte(c) || c == '-' }
