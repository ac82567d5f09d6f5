// Package tzless runs a test again in a child process that has no time
// zone database, as on a scratch or distroless image: the host's zoneinfo
// directories are replaced by empty ones in a private mount namespace and
// GOROOT points nowhere, so time.LoadLocation finds a zone only if the
// binary embeds time/tzdata. It is for tests only, and needs Linux with
// unshare(1).
package tzless

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const childEnv = "PLANGUARD_TZLESS_CHILD"

// Child reports whether this test process is a child started by Run.
func Child() bool { return os.Getenv(childEnv) == "1" }

// hide mounts an empty file system over each directory time.LoadLocation
// reads on Linux, then runs its arguments.
const hide = `for d in /usr/share/zoneinfo /usr/share/lib/zoneinfo /usr/lib/locale/TZ /etc/zoneinfo; do
	if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d" || exit 97; fi
done
exec "$@"`

// Run runs the test t again (only it) in a child without a time zone
// database, and fails t with the child's output if the child fails. The
// test calls Run when Child is false and does its checks when it is true.
// Without unshare(1) and the right to mount in a new namespace, t is
// skipped with the reason.
func Run(t *testing.T) {
	t.Helper()
	unshare := []string{"unshare", "--mount"}
	if os.Geteuid() != 0 {
		unshare = append(unshare, "--map-root-user")
	}
	if out, err := exec.Command(unshare[0], append(unshare[1:], "sh", "-c", hide, "sh", "true")...).CombinedOutput(); err != nil {
		t.Skipf("cannot hide the time zone database (%v: %s); this test needs Linux, unshare(1) and mount rights", err, out)
	}
	args := append(unshare[1:], "sh", "-c", hide, "sh", os.Args[0], "-test.run=^"+strings.ReplaceAll(t.Name(), "/", "$/^")+"$", "-test.v", "-test.count=1")
	cmd := exec.Command(unshare[0], args...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ZONEINFO=") || strings.HasPrefix(kv, "GOROOT=")
	}), "GOROOT=/nonexistent-goroot", childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child without a time zone database: %v\n%s", err, out)
	}
}
