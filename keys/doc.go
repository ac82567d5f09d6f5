// Package keys holds key pairs — a public secret_id and a secret_key —
// with which clients sign requests, as on Tencent Cloud API Gateway.
//
// Most users create keys through the usageplan registry or a config file;
// this package supplies the Key value, the Secret type that never prints
// itself, generation (Generate), validation (New, Validate) and the lifecycle
// rules of SPEC §3: Enable, Disable, Rotate (not while disabled), and
// CheckDelete (only a disabled key; the registry adds "not bound").
//
// Decisions where the SPEC is silent: enabling an enabled key or disabling a
// disabled one is a no-op, not an error; rotating drops SecretEnv, because
// the new secret no longer comes from that variable.
package keys
