package sdktest

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// The examples/server binary, built once for every test of the package
// into a directory TestMain removes.
var (
	buildOnce sync.Once
	buildDir  string
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// serverBinary builds examples/server (its own module, two directories
// up) with the go command that runs the tests.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "planguard-sdktest-"); buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "server")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Dir = filepath.Join("..", "..", "examples", "server")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build examples/server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// server is an examples/server process this test started: the data
// listener (data), the admin listener (addr) and its log.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	data string
	addr string

	mu   sync.Mutex
	logs strings.Builder
	done chan struct{} // closed when the process has exited and its log is read
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
	bin := serverBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "planguard.json")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, done: make(chan struct{})}
	flags := []string{"-state", filepath.Join(dir, "usage.db"), "-config", cfg,
		"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-admin-id", adminID, "-log-format", "json"}
	if managed {
		flags = append(flags, "-managed")
	}
	s.cmd = exec.Command(bin, append(flags, args...)...)
	s.cmd.Env = append(os.Environ(), "PLANGUARD_ADMIN_SECRET="+adminSecret)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			var line struct{ Msg, Addr, Admin string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addrs <- [2]string{line.Addr, line.Admin}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill() // our own process, by its PID; a no-op once stopped
		<-s.done
	})
	select {
	case a := <-addrs:
		s.data, s.addr = a[0], a[1]
	case <-s.done:
		t.Fatalf("the server exited before serving:\n%s", s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not log its addresses in 60 s:\n%s", s.log())
	}
	// Both listeners are bound before that line; a connection proves it.
	for _, a := range []string{s.data, s.addr} {
		conn, err := net.DialTimeout("tcp", a, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v\n%s", a, err, s.log())
		}
		conn.Close()
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// stop sends SIGTERM and waits for the process to exit; it fails the
// test if the process does not exit cleanly in 30 s or if the log shows
// any of secrets.
func (s *server) stop(secrets ...string) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("the server did not stop in 30 s after SIGTERM:\n%s", s.log())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("the server exited %d:\n%s", code, s.log())
	}
	for _, secret := range append(secrets, adminSecret) {
		if secret != "" && strings.Contains(s.log(), secret) {
			s.t.Fatalf("the log shows a secret:\n%s", s.log())
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

// signed builds a Cloud API 3.0 request to host by hand, signed with
// TC3-HMAC-SHA256 at ts over body, for the refusals the SDK cannot
// produce (it always signs correctly, with its own clock).
func signed(t *testing.T, addr, host, id, secret, action, body string, ts time.Time) *http.Request {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	date := ts.UTC().Format(time.DateOnly)
	const service, contentType = "apigateway", "application/json"
	sum := sha256.Sum256([]byte(body))
	canonical := "POST\n/\n\ncontent-type:" + contentType + "\nhost:" + host + "\n\ncontent-type;host\n" + hex.EncodeToString(sum[:])
	sum = sha256.Sum256([]byte(canonical))
	scope := date + "/" + service + "/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	key := mac(mac(mac([]byte("TC3"+secret), date), service), "tc3_request")
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", "2018-08-08")
	req.Header.Set("X-TC-Timestamp", stamp)
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+id+"/"+scope+", SignedHeaders=content-type;host, Signature="+hex.EncodeToString(mac(key, toSign)))
	return req
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
