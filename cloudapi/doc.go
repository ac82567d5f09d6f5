// Package cloudapi serves planguard's admin API in the protocol of the old
// gateway's management API, Tencent Cloud API 3.0 (version 2018-08-08), so
// that a team's existing automation — the Tencent Cloud SDKs, scripts
// that sign with TC3-HMAC-SHA256 — manages planguard by pointing its
// endpoint at the admin listener. (tccli signs with the older HmacSHA256
// method, which is refused.)
//
// Most users want New, with the registry, the admin credentials and a
// Config that names the Hosts clients use (LoopbackHosts builds them for
// a loopback listener), served on a listener of its own:
//
//	hosts, _ := cloudapi.LoopbackHosts("127.0.0.1:9090")
//	h, err := cloudapi.New(reg, []cloudapi.Credential{{SecretID: id, SecretKey: keys.NewSecret(secret)}},
//		cloudapi.Config{Hosts: hosts, Mode: cloudapi.Managed})
//
// A request is POST / with a JSON body of the action's parameters and the
// headers X-TC-Action, X-TC-Version: 2018-08-08, X-TC-Timestamp and
// Authorization: TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request,
// SignedHeaders=..., Signature=.... Every answer is HTTP 200 with
// {"Response": {..., "RequestId"}} or {"Response": {"Error": {"Code",
// "Message"}, "RequestId"}}: the SDKs read no other status.
//
// Decisions the protocol leaves open:
//
//   - The signing key is derived from the credential scope exactly as the
//     client sent it: the Go SDK signs with service "apigateway", other
//     SDKs with the endpoint's first label ("127" for 127.0.0.1:PORT).
//     The date must be the UTC date of X-TC-Timestamp.
//   - Host is checked against Config.Hosts before anything else, and is
//     signed: a client configured with "localhost:PORT" and one configured
//     with "127.0.0.1:PORT" send (and sign) different Hosts, and each is
//     accepted only if listed. LoopbackHosts lists both for a loopback
//     listener.
//   - content-type and host must be signed; the body must be signed (no
//     UNSIGNED-PAYLOAD); GET, query strings, form bodies and the older
//     HmacSHA1/HmacSHA256 signature methods are refused with their own
//     codes, as are temporary credentials (X-TC-Token).
//   - Parameters left unset keep their defaults or, for ModifyUsagePlan,
//     leave the setting unchanged. Unknown parameters are refused.
//   - Secrets appear only where the old API returned them: CreateApiKey,
//     UpdateApiKey and DescribeApiKey. The handler logs nothing.
//   - In Declarative mode (the default) write actions answer
//     UnsupportedOperation: the configuration file is the truth.
//
// docs/admin-api.md lists the actions, their parameters and error codes.
package cloudapi
