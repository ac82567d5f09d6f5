package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/metering"
)

// adminSecretEnv holds the SecretKey of -admin-id, as examples/server
// reads it: an environment variable, not a flag, since flags show in ps.
const adminSecretEnv = "PLANGUARD_ADMIN_SECRET"

// takeAdminSecret reads the SecretKey in $PLANGUARD_ADMIN_SECRET and
// removes it from the environment, so that no process started later
// (and no /proc/PID/environ reader of a child) sees it.
func takeAdminSecret() keys.Secret {
	s := keys.NewSecret(os.Getenv(adminSecretEnv))
	os.Unsetenv(adminSecretEnv)
	return s
}

// adminPage is how many rows each DescribeUsageHistory request asks for
// (the action's maximum Limit).
const adminPage = 100

// adminClient calls the Cloud API 3.0 admin actions of a running
// server, signing each request with TC3-HMAC-SHA256.
type adminClient struct {
	endpoint *url.URL // scheme and host; requests go to /
	id       string
	secret   keys.Secret
	http     *http.Client
	now      func() time.Time
}

// newAdminClient checks -admin (a URL, or host:port for http) and the
// credential.
func newAdminClient(admin, id string, secret keys.Secret) (*adminClient, error) {
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	u, err := url.Parse(admin)
	switch {
	case err != nil:
		return nil, fmt.Errorf("-admin %s: %w", admin, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("-admin %s: want http://HOST:PORT (the server's -admin listener)", admin)
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return nil, fmt.Errorf("-admin %s: the admin API is served on /, with no path or query", admin)
	case id == "":
		return nil, errors.New("-admin needs -admin-id, the credential's SecretId")
	case len(secret.Reveal()) == 0:
		return nil, fmt.Errorf("-admin needs the SecretKey of -admin-id in $%s", adminSecretEnv)
	}
	return &adminClient{endpoint: &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, id: id, secret: secret,
		http: &http.Client{Timeout: 30 * time.Second}, now: time.Now}, nil
}

// apiError is a refusal the admin API answered.
type apiError struct {
	Action, Code, Message string
}

func (e *apiError) Error() string { return e.Action + ": " + e.Code + ": " + e.Message }

// call sends action with params and decodes its Result into result.
func (c *adminClient) call(ctx context.Context, action string, params, result any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", cloudapi.Version)
	c.sign(req, action, body)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", action, err)
	}
	var env struct {
		Response struct {
			Error  *struct{ Code, Message string }
			Result json.RawMessage
		}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil {
		return fmt.Errorf("%s: HTTP %d, not a Cloud API answer (is %s the server's -admin listener, started with -admin-id?)", action, resp.StatusCode, c.endpoint.Host)
	}
	if e := env.Response.Error; e != nil {
		return &apiError{Action: action, Code: e.Code, Message: e.Message}
	}
	if err := json.Unmarshal(env.Response.Result, result); err != nil {
		return fmt.Errorf("%s: the Result: %w", action, err)
	}
	return nil
}

// sign adds the TC3-HMAC-SHA256 Authorization of req, signing
// content-type, host and x-tc-action over the body's hash.
func (c *adminClient) sign(req *http.Request, action string, body []byte) {
	const service, signed = "apigateway", "content-type;host;x-tc-action"
	now := c.now().UTC()
	ts, date := strconv.FormatInt(now.Unix(), 10), now.Format(time.DateOnly)
	canonical := "POST\n/\n\n" +
		"content-type:application/json\nhost:" + strings.ToLower(req.URL.Host) + "\nx-tc-action:" + strings.ToLower(action) + "\n\n" +
		signed + "\n" + sha256Hex(body)
	scope := date + "/" + service + "/tc3_request"
	toSign := cloudapi.Algorithm + "\n" + ts + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	key := hmacSHA256([]byte("TC3"+c.secret.Reveal()), date)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "tc3_request")
	req.Header.Set("X-TC-Timestamp", ts)
	req.Header.Set("Authorization", cloudapi.Algorithm+" Credential="+c.id+"/"+scope+
		", SignedHeaders="+signed+", Signature="+hex.EncodeToString(hmacSHA256(key, toSign)))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HistoryPlans returns the IDs of the server's usage plans, sorted
// (DescribeUsagePlansStatus): a plan deleted from the registry is
// exported only when -plan names it.
func (c *adminClient) HistoryPlans(ctx context.Context) ([]string, error) {
	var ids []string
	for offset := 0; ; {
		var set struct {
			TotalCount         int
			UsagePlanStatusSet []struct{ UsagePlanId string }
		}
		if err := c.call(ctx, "DescribeUsagePlansStatus", map[string]any{"Offset": offset, "Limit": adminPage}, &set); err != nil {
			return nil, err
		}
		for _, p := range set.UsagePlanStatusSet {
			ids = append(ids, p.UsagePlanId)
		}
		offset += len(set.UsagePlanStatusSet)
		if len(set.UsagePlanStatusSet) == 0 || offset >= set.TotalCount {
			break
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// History implements the export's reading through DescribeUsageHistory,
// page by page. Every row's RecordId is checked against the one computed
// here: a server and this command that disagree on it stop the export.
func (c *adminClient) History(ctx context.Context, q metering.Query) ([]metering.Row, error) {
	var rows []metering.Row
	for {
		params := map[string]any{
			"UsagePlanId": q.Plan, "Granularity": q.Granularity.String(),
			"StartTime": metering.FormatTime(q.From), "EndTime": metering.FormatTime(q.To),
			"Offset": len(rows), "Limit": adminPage,
		}
		var set cloudapi.UsageHistorySet
		if err := c.call(ctx, "DescribeUsageHistory", params, &set); err != nil {
			return nil, err
		}
		for _, u := range set.UsageHistorySet {
			r, err := rowOf(u)
			if err != nil {
				return nil, fmt.Errorf("DescribeUsageHistory: row %d of %s: %w", len(rows), q.Plan, err)
			}
			rows = append(rows, r)
		}
		if len(set.UsageHistorySet) == 0 || len(rows) >= set.TotalCount {
			return rows, nil
		}
	}
}

// Close implements the export's reader; the client holds nothing open.
func (c *adminClient) Close() error { return nil }

// rowOf reads an answered row back into a metering.Row.
func rowOf(u cloudapi.UsageHistory) (metering.Row, error) {
	g, err := metering.ParseGranularity(u.Granularity)
	if err != nil {
		return metering.Row{}, err
	}
	start, err := metering.ParseTime(u.StartTime)
	if err != nil {
		return metering.Row{}, err
	}
	r := metering.Row{Plan: u.UsagePlanID, Key: u.SecretID, Granularity: g, Start: start, Counts: metering.Counts{
		Requests: u.Requests, Units: u.Units, Overage: u.Overage, RefusedRate: u.RefusedRate, RefusedQuota: u.RefusedQuota}}
	if id := r.RecordID(); u.RecordID != id {
		return r, fmt.Errorf("RecordId %q, computed %s", u.RecordID, id)
	}
	return r, nil
}
