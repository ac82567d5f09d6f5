package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

var child = Binary{Dir: "testdata/child"}

func TestMain(m *testing.M) {
	code := m.Run()
	child.Remove()
	os.Exit(code)
}

// fatal is a testing.TB whose Fatal and Fatalf record the failure and
// end the goroutine, as the testing package's do.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs f on a fatal TB in a goroutine of its own and returns the
// failure it reported ("" for none).
func failure(t *testing.T, f func(tb testing.TB)) string {
	ft := &fatal{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ft)
	}()
	<-done
	return ft.msg
}

// A process is ready when it listens; its log lines are awaited and
// counted; SIGHUP is a signal like another; Stop ends it with status 0.
func TestProcessLifecycle(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, exec.Command(child.Path(t), "-addr", addr))
	p.WaitListening(addr)
	if l := p.WaitLog(1, "rea", "dy"); l != "ready" {
		t.Fatalf("WaitLog returned %q", l)
	}
	p.Signal(syscall.SIGHUP)
	p.WaitLog(1, "hup")
	p.Signal(syscall.SIGHUP)
	p.WaitLog(2, "hup")
	if n := p.CountLog("hup"); n != 2 || p.Exited() {
		t.Fatalf("%d hup lines, exited %v:\n%s", n, p.Exited(), p.Log())
	}
	p.Stop()
	if !p.Exited() || p.Log() != "ready\nhup\nhup\nstopped\n" {
		t.Fatalf("exited %v, log %q", p.Exited(), p.Log())
	}
}

// Kill ends the process; Wait reports the signal.
func TestKill(t *testing.T) {
	p := Start(t, exec.Command(child.Path(t)))
	p.WaitLog(1, "ready")
	p.Kill()
	var exit *exec.ExitError
	if err := p.Wait(); !errors.As(err, &exit) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Wait after Kill: %v", err)
	}
}

// At the end of the test that started it, a process still running is
// killed and waited for.
func TestCleanupKills(t *testing.T) {
	var p *Process
	t.Run("start", func(t *testing.T) {
		p = Start(t, exec.Command(child.Path(t)))
		p.WaitLog(1, "ready")
	})
	if !p.Exited() {
		t.Fatal("the process outlived its test")
	}
	if err := p.Wait(); err == nil {
		t.Fatal("the process exited 0: it was not killed")
	}
}

// Stop fails the test on a non-zero exit status; WaitLog and
// WaitListening fail once the process has exited; each failure shows
// the log.
func TestFailures(t *testing.T) {
	if msg := failure(t, func(tb testing.TB) {
		p := Start(tb, exec.Command(child.Path(t), "-exit", "3"))
		p.WaitLog(1, "ready") // it handles SIGTERM from then on
		p.Stop()
	}); !strings.Contains(msg, "exit status 3") || !strings.Contains(msg, "stopped") {
		t.Errorf("Stop of a process exiting 3: %q", msg)
	}
	if msg := failure(t, func(tb testing.TB) {
		Start(tb, exec.Command(child.Path(t), "-quit")).WaitLog(1, "hup")
	}); !strings.Contains(msg, "exited before logging") || !strings.Contains(msg, "ready") {
		t.Errorf("WaitLog on a process that exits: %q", msg)
	}
	if msg := failure(t, func(tb testing.TB) {
		p := Start(tb, exec.Command(child.Path(t), "-quit"))
		p.Wait()
		p.WaitListening(FreeAddr(t))
	}); !strings.Contains(msg, "did not listen") {
		t.Errorf("WaitListening on a process that exited: %q", msg)
	}
}

// Build compiles a main package into the test's temporary directory;
// Binary builds once and Remove deletes what it built.
func TestBuild(t *testing.T) {
	bin := Build(t, "testdata/child")
	out, err := exec.Command(bin, "-quit", "-exit", "0").CombinedOutput()
	if err != nil || string(out) != "ready\n" {
		t.Fatalf("%s: %v %q", bin, err, out)
	}
	if msg := failure(t, func(tb testing.TB) { Build(tb, "testdata/none") }); !strings.Contains(msg, "go build testdata/none") {
		t.Errorf("Build of a missing directory: %q", msg)
	}
	b := Binary{Dir: "testdata/child"}
	path := b.Path(t)
	if again := b.Path(t); again != path {
		t.Fatalf("a second Path: %s, then %s", path, again)
	}
	b.Remove()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Remove: %v", err)
	}
}

// A program that listens on 127.0.0.1:0 tells its address in a slog
// line, text or JSON: WaitAttrs returns it, and the program listens
// there.
func TestWaitAttrs(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		p := Start(t, exec.Command(child.Path(t), "-addr", "127.0.0.1:0", "-slog", format))
		got := p.WaitAttrs("serving", "addr", "note", "absent")
		if !strings.HasPrefix(got[0], "127.0.0.1:") || got[1] != "a value with spaces" || got[2] != "" {
			t.Fatalf("%s: WaitAttrs returned %q\n%s", format, got, p.Log())
		}
		p.WaitListening(got[0])
		p.Stop()
	}
	// A line of another message, or not from slog, is not the one awaited.
	if msg := failure(t, func(tb testing.TB) {
		Start(tb, exec.Command(child.Path(t), "-quit")).WaitAttrs("serving", "addr")
	}); !strings.Contains(msg, `exited before logging msg "serving"`) {
		t.Fatalf("WaitAttrs on a process that never logs it: %q", msg)
	}
}

func TestSlogAttrs(t *testing.T) {
	for line, want := range map[string]map[string]string{
		`time=2026-12-06T00:00:00Z level=INFO msg=serving addr=127.0.0.1:80`: {"time": "2026-12-06T00:00:00Z", "level": "INFO", "msg": "serving", "addr": "127.0.0.1:80"},
		`level=WARN msg="a b \"c\"" k=`:                                      {"level": "WARN", "msg": `a b "c"`, "k": ""},
		`{"msg":"serving","addr":"127.0.0.1:80","n":3}`:                      {"msg": "serving", "addr": "127.0.0.1:80", "n": "3"},
		`msg=serving "a key"=1 "k=v"="x y"`:                                  {"msg": "serving", "a key": "1", "k=v": "x y"},
		`msg=serving "a key" =1`:                                             nil,
		`ready`:                                                              nil,
		`a=1 two words`:                                                      nil,
		`msg="unclosed`:                                                      nil,
		`{"msg":"broken"`:                                                    nil,
	} {
		if got := slogAttrs(line); (got == nil) != (want == nil) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("slogAttrs(%q) = %v, want %v", line, got, want)
		}
	}
}
