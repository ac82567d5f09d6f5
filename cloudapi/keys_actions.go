package cloudapi

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// APIKey is the old gateway's ApiKey. AccessKeySecret is set only where
// the old API returned it: CreateApiKey, UpdateApiKey and DescribeApiKey.
type APIKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret,omitempty"`
	AccessKeyType   string // "auto" or "manual"
	SecretName      string
	Status          int // 1 enabled, 0 disabled
	CreatedTime     string
	ModifiedTime    string
}

// APIKeysStatus is DescribeApiKeysStatus' Result.
type APIKeysStatus struct {
	TotalCount int
	APIKeySet  []APIKey `json:"ApiKeySet"`
}

// Key types of CreateApiKey.
const (
	KeyTypeAuto   = "auto"
	KeyTypeManual = "manual"
)

// keyType tells a generated key from a manual one by its form (AKID and
// 36 letters and digits): the registry keeps no flag.
func keyType(id string) string {
	rest, ok := strings.CutPrefix(id, keys.AutoIDPrefix)
	if !ok || len(rest) != keys.AutoIDRandLen {
		return KeyTypeManual
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return KeyTypeManual
		}
	}
	return KeyTypeAuto
}

func statusNumber(s keys.Status) int {
	if s == keys.Enabled {
		return 1
	}
	return 0
}

func apiKey(k keys.Key, withSecret bool) APIKey {
	out := APIKey{AccessKeyID: k.ID, AccessKeyType: keyType(k.ID), SecretName: k.Name, Status: statusNumber(k.Status),
		CreatedTime: gatewayTime(k.Created), ModifiedTime: gatewayTime(k.Modified)}
	if withSecret {
		out.AccessKeySecret = k.Secret.Reveal()
	}
	return out
}

// gatewayTime formats t as the old gateway did (UTC, ISO 8601).
func gatewayTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(usageplan.TimeFormat)
}

// key finds a key in the call's snapshot.
func (c *call) key(id *string) (keys.Key, *Error) {
	v, err := required("AccessKeyId", id)
	if err != nil {
		return keys.Key{}, err
	}
	k, ok := c.snap.Key(v)
	if !ok {
		return keys.Key{}, errorf(CodeInvalidAccessKeyID, "no key has AccessKeyId %s", quoteShort(v))
	}
	return k, nil
}

// keyParam decodes the one parameter AccessKeyId and finds the key.
func (c *call) keyParam() (keys.Key, *Error) {
	p, err := decode[struct{ AccessKeyId *string }](c)
	if err != nil {
		return keys.Key{}, err
	}
	return c.key(p.AccessKeyId)
}

func (h *Handler) createAPIKey(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		SecretName      *string
		AccessKeyType   *string
		AccessKeyId     *string
		AccessKeySecret *string
	}](c)
	if err != nil {
		return nil, err
	}
	name, err := required("SecretName", p.SecretName)
	if err != nil {
		return nil, err
	}
	typ := KeyTypeAuto
	if p.AccessKeyType != nil {
		typ = *p.AccessKeyType
	}
	var k keys.Key
	switch typ {
	case KeyTypeAuto:
		if p.AccessKeyId != nil || p.AccessKeySecret != nil {
			return nil, errorf(CodeInvalidParameterValue, "AccessKeyId and AccessKeySecret are for AccessKeyType manual")
		}
		if err := keys.ValidateName(name); err != nil {
			return nil, translate(err, CodeInvalidParameterValue)
		}
		var gerr error
		if k, gerr = h.reg.GenerateKey(name); gerr != nil {
			return nil, translate(gerr, CodeInvalidParameterValue)
		}
	case KeyTypeManual:
		id, err := required("AccessKeyId", p.AccessKeyId)
		if err != nil {
			return nil, err
		}
		secret, err := required("AccessKeySecret", p.AccessKeySecret)
		if err != nil {
			return nil, err
		}
		nk, kerr := keys.New(id, name, keys.NewSecret(secret), c.now)
		if kerr == nil {
			kerr = h.reg.AddKey(nk)
		}
		if kerr != nil {
			return nil, translate(kerr, CodeInvalidParameterValue)
		}
		k, _ = h.reg.Snapshot().Key(id)
	default:
		return nil, errorf(CodeInvalidParameterValue, "AccessKeyType must be auto or manual, got %s", quoteShort(typ))
	}
	return result(apiKey(k, true))
}

func (h *Handler) updateAPIKey(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		AccessKeyId     *string
		AccessKeySecret *string
	}](c)
	if err != nil {
		return nil, err
	}
	k, err := c.key(p.AccessKeyId)
	if err != nil {
		return nil, err
	}
	if k.Status == keys.Disabled {
		return nil, errorf(CodeInvalidStatus, "key %s is disabled; enable it before changing its secret", k.ID)
	}
	var out keys.Key
	var rerr error
	switch {
	case p.AccessKeySecret != nil:
		out, rerr = h.reg.RotateKeyTo(k.ID, keys.NewSecret(*p.AccessKeySecret))
	case keyType(k.ID) == KeyTypeManual:
		return nil, errorf(CodeMissingParameter, "AccessKeySecret is required to update a manual key")
	default:
		out, rerr = h.reg.RotateKey(k.ID)
	}
	if rerr != nil {
		return nil, translate(rerr, CodeInvalidAccessKeyID)
	}
	return result(apiKey(out, true))
}

func (h *Handler) enableAPIKey(c *call) (map[string]any, *Error) {
	return h.keyChange(c, h.reg.EnableKey)
}

func (h *Handler) disableAPIKey(c *call) (map[string]any, *Error) {
	return h.keyChange(c, h.reg.DisableKey)
}

func (h *Handler) deleteAPIKey(c *call) (map[string]any, *Error) {
	return h.keyChange(c, h.reg.DeleteKey)
}

func (h *Handler) keyChange(c *call, fn func(id string) error) (map[string]any, *Error) {
	k, err := c.keyParam()
	if err != nil {
		return nil, err
	}
	if ferr := fn(k.ID); ferr != nil {
		return nil, translate(ferr, CodeInvalidAccessKeyID)
	}
	return done()
}

func (h *Handler) describeAPIKey(c *call) (map[string]any, *Error) {
	k, err := c.keyParam()
	if err != nil {
		return nil, err
	}
	return result(apiKey(k, true))
}

// DescribeApiKeysStatus filters.
var keyFilters = []string{"AccessKeyId", "AccessKeySecret", "SecretName", "NotUsagePlanId", "Status", "KeyWord"}

func (h *Handler) describeAPIKeysStatus(c *call) (map[string]any, *Error) {
	filters, pg, err := decodeList(c, keyFilters...)
	if err != nil {
		return nil, err
	}
	// The AccessKeySecret values, made secrets once rather than per key.
	secrets := make([][]keys.Secret, len(filters))
	for i, f := range filters {
		if f.Name == "AccessKeySecret" {
			for _, v := range f.Values {
				secrets[i] = append(secrets[i], keys.NewSecret(v))
			}
		}
	}
	var rows []APIKey
	for _, k := range c.snap.Keys() {
		if keyMatches(c.snap, k, filters, secrets) {
			rows = append(rows, apiKey(k, false))
		}
	}
	return result(APIKeysStatus{TotalCount: len(rows), APIKeySet: window(rows, pg)})
}

// keyMatches applies DescribeApiKeysStatus' filters: AccessKeyId,
// SecretName exact; AccessKeySecret compares the secret; NotUsagePlanId
// keeps keys the plan does not bind; Status is "0" or "1"; KeyWord is a
// substring of the ID or the name. secrets[i] holds filter i's values as
// secrets when it is an AccessKeySecret filter.
func keyMatches(snap *usageplan.Snapshot, k keys.Key, fs []Filter, secrets [][]keys.Secret) bool {
	for i, f := range fs {
		var ok bool
		switch f.Name {
		case "AccessKeyId":
			ok = slices.Contains(f.Values, k.ID)
		case "AccessKeySecret":
			ok = slices.ContainsFunc(secrets[i], func(v keys.Secret) bool { return v.Equal(k.Secret) })
		case "SecretName":
			ok = slices.Contains(f.Values, k.Name)
		case "NotUsagePlanId":
			ok = anyOf(f.Values, func(v string) bool {
				return !bindsKey(snap, v, k.ID)
			})
		case "Status":
			ok = slices.Contains(f.Values, strconv.Itoa(statusNumber(k.Status)))
		case "KeyWord":
			ok = anyOf(f.Values, func(v string) bool { return strings.Contains(k.ID, v) || strings.Contains(k.Name, v) })
		}
		if !ok {
			return false
		}
	}
	return true
}
