package sdktest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/proctest"
	"github.com/planguard/planguard/keys"
	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// serverBinary is examples/server (its own module, two directories up),
// built once for every test of the package.
var serverBinary = proctest.Binary{Dir: filepath.Join("..", "..", "examples", "server")}

func TestMain(m *testing.M) {
	code := m.Run()
	serverBinary.Remove()
	os.Exit(code)
}

// server is an examples/server process this test started: the data
// listener (data), the admin listener (addr) and its log.
type server struct {
	*proctest.Process
	t    *testing.T
	data string
	addr string
}

// start runs examples/server in managed mode with a journal and quota
// state in a temporary directory, seeded from config, serving the admin
// API to adminID (its secret in PLANGUARD_ADMIN_SECRET), on loopback
// ports the process picks itself. It returns once the process logs the
// addresses it listens on; the test stops it (by its PID) at its end.
func start(t *testing.T, config string, args ...string) *server {
	t.Helper()
	return startMode(t, true, config, args...)
}

// startDeclarative is start without -managed: config is the truth.
func startDeclarative(t *testing.T, config string, args ...string) *server {
	t.Helper()
	return startMode(t, false, config, args...)
}

func startMode(t *testing.T, managed bool, config string, args ...string) *server {
	t.Helper()
	bin := serverBinary.Path(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "planguard.json")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-state", filepath.Join(dir, "usage.db"), "-config", cfg,
		"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-admin-id", adminID, "-log-format", "json"}
	if managed {
		flags = append(flags, "-managed")
	}
	cmd := exec.Command(bin, append(flags, args...)...)
	cmd.Env = append(os.Environ(), "PLANGUARD_ADMIN_SECRET="+adminSecret)
	s := &server{Process: proctest.Start(t, cmd), t: t}
	var serving struct{ Addr, Admin string }
	if err := json.Unmarshal([]byte(s.WaitLog(1, `"msg":"serving"`)), &serving); err != nil {
		t.Fatalf("the serving line: %v\n%s", err, s.Log())
	}
	s.data, s.addr = serving.Addr, serving.Admin
	// Both listeners are bound before that line; a connection proves it.
	for _, a := range []string{s.data, s.addr} {
		conn, err := net.DialTimeout("tcp", a, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v\n%s", a, err, s.Log())
		}
		conn.Close()
	}
	return s
}

// stop sends SIGTERM and waits for the process to exit; it fails the
// test if the process does not exit cleanly or if the log shows any of
// secrets.
func (s *server) stop(secrets ...string) {
	s.t.Helper()
	s.Stop()
	for _, secret := range append(secrets, adminSecret) {
		if secret != "" && strings.Contains(s.Log(), secret) {
			s.t.Fatalf("the log shows a secret:\n%s", s.Log())
		}
	}
}

// client is the real SDK's apigateway client, pointed at the admin
// listener over plain HTTP.
func (s *server) client(id, secret string, edit ...func(*profile.ClientProfile)) *apigw.Client {
	s.t.Helper()
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.Endpoint = s.addr
	cpf.HttpProfile.ReqTimeout = 30
	for _, f := range edit {
		f(cpf)
	}
	c, err := apigw.NewClient(common.NewCredential(id, secret), "ap-guangzhou", cpf)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *server) admin() *apigw.Client { return s.client(adminID, adminSecret) }

// call sends GET path to the data listener, signed by the usage-plan key
// id (HMAC, planguard's own signer), and returns the status and the echo
// handler's answer.
func (s *server) call(path, id, secret string) (int, map[string]string) {
	s.t.Helper()
	c := &http.Client{Transport: &keys.Transport{Signer: &keys.Signer{ID: id, Secret: keys.NewSecret(secret)}}, Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + s.data + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			s.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode, body
}

// wantStatus fails the test unless GET path signed by id answers want.
func (s *server) wantStatus(path, id, secret string, want int) map[string]string {
	s.t.Helper()
	got, body := s.call(path, id, secret)
	if got != want {
		s.t.Fatalf("GET %s as %s: %d, want %d", path, id, got, want)
	}
	return body
}

// sendRaw sends req and returns the code of the error it is answered with
// ("" for none), checking that the answer is HTTP 200 with the Cloud
// API envelope and a RequestId, as the SDKs need it.
func sendRaw(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Response struct {
			Error     *struct{ Code, Message string }
			RequestId string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != http.StatusOK || env.Response.RequestId == "" {
		t.Fatalf("%d, %v, %+v", resp.StatusCode, err, env)
	}
	if env.Response.Error == nil {
		return ""
	}
	return env.Response.Error.Code
}

// redirect is a transport that dials addr whatever the URL names, so
// that the SDK sends (and signs) a Host that is not the listener's.
func redirect(addr string) http.RoundTripper {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// tamper is a transport that replaces the body of a signed request.
type tamper struct{ body string }

func (tp tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tp.body)), int64(len(tp.body))
	return http.DefaultTransport.RoundTrip(r)
}

// recorder is a transport that notes, for each X-TC-Action sent, whether
// some answer to it succeeded.
type recorder struct {
	mu        sync.Mutex
	succeeded map[string]bool
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	var env struct {
		Response struct{ Error *struct{ Code string } }
	}
	ok := json.Unmarshal(body, &env) == nil && env.Response.Error == nil
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.succeeded == nil {
		rec.succeeded = map[string]bool{}
	}
	// The SDK sets its headers under their non-canonical names.
	action := strings.Join(r.Header["X-TC-Action"], "")
	rec.succeeded[action] = rec.succeeded[action] || ok
	return resp, nil
}

// missing returns the actions of want that no answer succeeded for.
func (rec *recorder) missing(want ...string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, a := range want {
		if !rec.succeeded[a] {
			out = append(out, a)
		}
	}
	return out
}

// gatewayActions are the old gateway's actions the admin API serves.
var gatewayActions = []string{
	"CreateApiKey", "UpdateApiKey", "EnableApiKey", "DisableApiKey", "DeleteApiKey", "DescribeApiKey", "DescribeApiKeysStatus",
	"CreateUsagePlan", "ModifyUsagePlan", "DeleteUsagePlan", "DescribeUsagePlan", "DescribeUsagePlansStatus",
	"BindSecretIds", "UnBindSecretIds", "BindEnvironment", "UnBindEnvironment", "DemoteServiceUsagePlan",
	"DescribeApiUsagePlan", "DescribeServiceUsagePlan", "DescribeUsagePlanEnvironments", "DescribeUsagePlanSecretIds",
}
