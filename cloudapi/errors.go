package cloudapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// Error codes the admin API answers with: the old gateway's, and the
// common codes of Cloud API 3.0. docs/admin-api.md lists which action
// answers which.
const (
	CodeInvalidAuthorization  = "AuthFailure.InvalidAuthorization"
	CodeSecretIDNotFound      = "AuthFailure.SecretIdNotFound"
	CodeSignatureExpire       = "AuthFailure.SignatureExpire"
	CodeSignatureFailure      = "AuthFailure.SignatureFailure"
	CodeTokenFailure          = "AuthFailure.TokenFailure"
	CodeUnauthorizedOperation = "AuthFailure.UnauthorizedOperation"

	CodeInvalidAction            = "InvalidAction"
	CodeNoSuchVersion            = "NoSuchVersion"
	CodeUnsupportedProtocol      = "UnsupportedProtocol"
	CodeRequestSizeLimitExceeded = "RequestSizeLimitExceeded"
	CodeForbiddenHost            = "UnauthorizedOperation"
	CodeInternalError            = "InternalError"

	CodeMissingParameter       = "MissingParameter"
	CodeUnknownParameter       = "UnknownParameter"
	CodeInvalidParameterFormat = "InvalidParameter.FormatError"
	CodeInvalidParameterValue  = "InvalidParameterValue"
	CodeRangeExceeded          = "InvalidParameterValue.RangeExceeded"
	CodeInvalidMaxRequestNum   = "InvalidParameterValue.InvalidMaxRequestNum"
	CodeInvalidAccessKeyIDs    = "InvalidParameterValue.InvalidAccessKeyIds"
	CodeInvalidAPIIDs          = "InvalidParameterValue.InvalidApiIds"
	CodeInvalidEnv             = "InvalidParameterValue.InvalidEnv"
	CodeInvalidFilterName      = "InvalidParameterValue.InvalidFilterNotSupportedName"

	CodeAccessKeyExist = "FailedOperation.AccessKeyExist"

	CodeInvalidAccessKeyID = "ResourceNotFound.InvalidAccessKeyId"
	CodeInvalidAPI         = "ResourceNotFound.InvalidApi"
	CodeInvalidService     = "ResourceNotFound.InvalidService"
	CodeInvalidUsagePlan   = "ResourceNotFound.InvalidUsagePlan"

	CodeUnsupportedOperation         = "UnsupportedOperation"
	CodeAlreadyBindUsagePlan         = "UnsupportedOperation.AlreadyBindUsagePlan"
	CodeInvalidStatus                = "UnsupportedOperation.InvalidStatus"
	CodeNoUsagePlanEnv               = "UnsupportedOperation.NoUsagePlanEnv"
	CodeResourceIsInUse              = "UnsupportedOperation.ResourceIsInUse"
	CodeResourceUnassociated         = "UnsupportedOperation.ResourceUnassociated"
	CodeUnsupportedBindEnvironment   = "UnsupportedOperation.UnsupportedBindEnvironment"
	CodeUnsupportedUnBindEnvironment = "UnsupportedOperation.UnsupportedUnBindEnvironment"
	CodeUsagePlanInUse               = "UnsupportedOperation.UsagePlanInUse"
)

// Error is a refusal as the admin API answers it: a code and a message.
// Messages name IDs and parameters, never a secret or a signature.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidAuth(msg string) *Error { return &Error{Code: CodeInvalidAuthorization, Message: msg} }

// planFieldParam names the admin API parameter of a plan field that the
// registry refused.
var planFieldParam = map[string]string{
	"name":        "UsagePlanName",
	"description": "UsagePlanDesc",
	"qps":         "MaxRequestNumPreSec",
	"quota":       "MaxRequestNum",
	"quotaPeriod": "QuotaPeriod",
	"timeZone":    "TimeZone",
	"burst":       "MaxRequestBurst",
	"limits":      "RequestLimits",
	"throttles":   "ApiThrottles",
	"dryRun":      "Enforce",
	"alerts":      "QuotaAlerts",
}

// keyFieldParam names the admin API parameter of a key field.
var keyFieldParam = map[string]string{
	"id":     "AccessKeyId",
	"name":   "SecretName",
	"secret": "AccessKeySecret",
}

// translate turns a registry refusal into the code the old gateway
// answered for it; fallback is the code of a refusal this function does
// not know (a store failure is InternalError). It never includes a
// secret: registry errors do not carry one.
func translate(err error, fallback string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var conflict *binding.Conflict
	var mixed *binding.MixedScopeError
	var dup *binding.DuplicateError
	var kf *keys.FieldError
	var pf *usageplan.FieldError
	var ve *usageplan.ValidationError
	switch {
	case errors.As(err, &conflict):
		return &Error{Code: CodeAlreadyBindUsagePlan, Message: conflict.Error()}
	case errors.As(err, &mixed):
		return &Error{Code: CodeUnsupportedBindEnvironment, Message: mixed.Error()}
	case errors.As(err, &dup):
		if dup.What == "key" {
			return &Error{Code: CodeAlreadyBindUsagePlan, Message: dup.Error()}
		}
		return &Error{Code: CodeUnsupportedBindEnvironment, Message: dup.Error()}
	case errors.As(err, &kf) && (kf.Entity == "" || kf.Entity == "key") && keyFieldParam[kf.Field] != "":
		return &Error{Code: CodeInvalidParameterValue, Message: paramMessage(keyFieldParam, kf.Field, kf.Reason)}
	case errors.As(err, &ve) && len(ve.Problems) > 0:
		return planProblem(ve.Problems[0])
	case errors.As(err, &pf):
		return planFieldError(pf.Field, paramMessage(planFieldParam, pf.Field, pf.Reason))
	case errors.Is(err, keys.ErrInUse):
		return &Error{Code: CodeResourceIsInUse, Message: "the key is bound to a usage plan; unbind it first"}
	case errors.Is(err, keys.ErrEnabled):
		return &Error{Code: CodeInvalidStatus, Message: "the key is enabled; disable it first"}
	case errors.Is(err, keys.ErrDisabled):
		return &Error{Code: CodeInvalidStatus, Message: "the key is disabled; enable it first"}
	case errors.Is(err, keys.ErrExists):
		return &Error{Code: CodeAccessKeyExist, Message: "a key with this AccessKeyId already exists"}
	case errors.Is(err, keys.ErrNotFound):
		return &Error{Code: CodeInvalidAccessKeyID, Message: stripPrefix(err.Error())}
	case errors.Is(err, usageplan.ErrInUse):
		return &Error{Code: CodeUsagePlanInUse, Message: stripPrefix(err.Error())}
	case errors.Is(err, usageplan.ErrInvalidState):
		return &Error{Code: CodeUnsupportedUnBindEnvironment, Message: stripPrefix(err.Error())}
	case errors.Is(err, usageplan.ErrNotFound), errors.Is(err, usageplan.ErrInvalidParameter):
		return &Error{Code: fallback, Message: stripPrefix(err.Error())}
	}
	return &Error{Code: CodeInternalError, Message: "internal error"}
}

// planFieldError is the refusal of a plan setting: InvalidMaxRequestNum
// for the quota, RangeExceeded for the QPS, InvalidParameterValue for
// the others.
func planFieldError(field, message string) *Error {
	code := CodeInvalidParameterValue
	switch field {
	case "quota":
		code = CodeInvalidMaxRequestNum
	case "qps":
		code = CodeRangeExceeded
	}
	return &Error{Code: code, Message: message}
}

// windowParam and throttleParam name the admin API parameters of a
// window's and a throttle's fields.
var (
	windowParam   = map[string]string{"name": "Name", "requests": "Requests", "per": "PerSeconds"}
	throttleParam = map[string]string{"qps": "MaxRequestNumPreSec", "burst": "MaxRequestBurst"}
)

// planProblem is the refusal of a plan setting the registry's rules
// refuse, naming the parameter its path leads to: "plans[0].quota" is
// MaxRequestNum, "plans[0].limits[1].requests" RequestLimits[1].Requests,
// "plans[0].throttles.api-x.qps" the MaxRequestNumPreSec of ApiThrottles'
// api-x, "plans[0].alerts[2]" QuotaAlerts[2].
func planProblem(p usageplan.Problem) *Error {
	_, rest, _ := strings.Cut(p.Path, "].")
	field, sub, _ := strings.Cut(rest, ".")
	top, index, indexed := strings.Cut(field, "[")
	name := top
	if param, ok := planFieldParam[top]; ok {
		name = param
	}
	if indexed {
		name += "[" + index
	}
	switch {
	case top == "limits" && sub != "":
		name += "." + windowParam[sub]
	case top == "throttles" && sub != "":
		api, f, _ := strings.Cut(sub, ".")
		name = "ApiThrottles: " + throttleParam[f] + " of API " + api
	}
	var fe *usageplan.FieldError
	message := name + ": " + stripPrefix(p.Err.Error())
	if errors.As(p.Err, &fe) {
		message = name + " " + fe.Reason
	}
	if name != planFieldParam[top] {
		return &Error{Code: CodeInvalidParameterValue, Message: message}
	}
	return planFieldError(top, message)
}

func paramMessage(names map[string]string, field, reason string) string {
	if p, ok := names[field]; ok {
		return p + " " + reason
	}
	return field + " " + reason
}

// stripPrefix removes the Go package prefixes ("usageplan: ") that
// registry errors carry from a message meant for an API client.
func stripPrefix(s string) string {
	for _, p := range []string{"usageplan: ", "keys: ", "binding: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}
