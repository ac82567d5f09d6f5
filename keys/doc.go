// Package keys holds key pairs — a public secret_id and a secret_key —
// with which clients sign requests, as on Tencent Cloud API Gateway.
//
// Most users create keys through the usageplan registry or a config file;
// this package supplies the Key value, the Secret type that never prints
// itself, generation (Generate), validation (New, Validate) and the lifecycle
// rules: Enable, Disable and Rotate (not while disabled). The rules that
// involve plans — a disabled key cannot be bound, only a disabled and
// unbound key can be deleted — are the usageplan registry's.
//
// Signing: a Go client wraps its transport in a Transport (most users want
// this), which signs every request with a Signer: X-Date, a random
// X-Nonce and Authorization: hmac id=..., algorithm=..., headers=...,
// signature=... . It signs what net/http sends and never signs a
// redirect hop to another origin. A server verifies with a Verifier
// (the middleware package does it for you), optionally with a replay
// cache bounded per key. docs/signing.md in the repository describes
// the wire format, the date rules, the nonce, the replay cache and the
// refusals.
//
// Decisions of this package: enabling an enabled key or disabling a
// disabled one is a no-op, not an error; rotating drops SecretEnv, because
// the new secret no longer comes from that variable.
package keys
