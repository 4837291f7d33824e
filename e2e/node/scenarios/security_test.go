package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// daemonPIDs finds the esc-csi daemons the runtime started (their command line is the image's
// entrypoint and the chart's `serve`).
func daemonPIDs(t *testing.T) []string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.HasPrefix(string(b), "/usr/local/bin/esc-csi\x00serve\x00") {
			pids = append(pids, filepath.Base(d))
		}
	}
	if len(pids) == 0 {
		t.Fatal("no esc-csi daemon runs on the node")
	}
	return pids
}

func statusField(t *testing.T, pid, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%s/status", field, pid)
	return ""
}

// What the chart's securityContext becomes in a real runtime: UID 0 with no capability at
// all, no privilege escalation, seccomp on, a read-only root filesystem.
func TestTheDaemonRunsWithTheChartsSecuritySettings(t *testing.T) {
	for _, pid := range daemonPIDs(t) {
		for field, want := range map[string]string{
			"Uid": "0\t0\t0\t0", "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
			"CapBnd": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2",
		} {
			if got := statusField(t, pid, field); got != want {
				t.Errorf("daemon %s: %s is %q, want %q", pid, field, got, want)
			}
		}
		b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 5 && f[4] == "/" && !strings.HasPrefix(f[5], "ro") {
				t.Errorf("daemon %s: its root filesystem is mounted %s", pid, f[5])
			}
		}
	}
}

// The daemon's ServiceAccount as installed for the guide's classes (authSecrets in every
// namespace): it may get a Secret by name and nothing else.
func TestTheDaemonsServiceAccountMayOnlyGetSecrets(t *testing.T) {
	as := "--as=system:serviceaccount:kube-system:esc-csi"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "secrets", "-n", "default"}, "yes"},
		{[]string{"get", "secrets", "-n", "kube-system"}, "yes"},
		{[]string{"list", "secrets", "-n", "default"}, "no"},
		{[]string{"watch", "secrets", "-n", "default"}, "no"},
		{[]string{"create", "secrets", "-n", "default"}, "no"},
		{[]string{"get", "configmaps", "-n", "default"}, "no"},
		{[]string{"get", "pods", "-n", "default"}, "no"},
		{[]string{"create", "serviceaccounts/token", "-n", "default"}, "no"},
	} {
		out, _ := kubectl("", append([]string{"auth", "can-i", as}, c.args...)...)
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("can-i %s: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}
