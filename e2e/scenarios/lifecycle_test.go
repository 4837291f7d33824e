package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// esc-csi stops (SIGTERM: exit 0, socket removed) and starts again under a running driver: a
// first mount in between fails, a re-publish in between is masked by the driver and leaves the
// files alone, and afterwards the driver reaches the new process on its own.
func TestDaemonRestart(t *testing.T) {
	need(t)
	namespace(t, "restart", "app")
	writeEnv(t, "restart", "app", "values:\n  token: t-1\n")
	secret(t, "restart", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, "restart", "app", map[string]string{"organization": "shop", "project": "restart", "environment": "app"},
		"- fileName: token\n  secretKey: token\n", "")
	a := pod(t, "restart", "a", "app", vol{name: "secrets", class: "app", nodePublishSecret: "pulumi-creds"})
	ta := kl.TargetPath(a, "secrets")
	publish(t, a, "secrets")
	v1 := expectPodStatus(t, a, "app", "secrets", "token")

	if err := c.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			if err := c.StartDaemon(ctxFor(t, time.Minute)); err != nil {
				t.Errorf("restarting esc-csi: %v", err)
			}
		}
	}()
	b := pod(t, "restart", "b", "app", vol{name: "secrets", class: "app", nodePublishSecret: "pulumi-creds"})
	msg := publishErr(t, b, "secrets")
	if !strings.HasPrefix(msg, wantPrefix(b, "Unavailable")) {
		t.Errorf("a first mount with esc-csi down: %s", msg)
	}
	if isMountPoint(t, kl.TargetPath(b, "secrets")) {
		t.Errorf("the driver left a failed mount mounted")
	}
	waitRotationDue(written(t, ta))
	publish(t, a, "secrets") // masked by the driver (kubernetes/kubernetes#121271)
	expectFiles(t, ta, map[string]file{"token": {"t-1", 0o644}})

	if err := c.StartDaemon(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	restarted = true
	publish(t, b, "secrets")
	expectFiles(t, kl.TargetPath(b, "secrets"), map[string]file{"token": {"t-1", 0o644}})
	expectPodStatus(t, b, "app", "secrets", "token")

	// Without --version-key-file (the chart's default) versions are keyed per process: the
	// same content reports a new version once, and the files are left as they are.
	before := snapshot(t, ta, "token")
	publish(t, a, "secrets")
	expectFiles(t, ta, map[string]file{"token": {"t-1", 0o644}})
	v2 := expectPodStatus(t, a, "app", "secrets", "token")
	if v2["token"] == v1["token"] {
		t.Errorf("the version did not change across a restart without a version key")
	}
	if !sameMap(before, snapshot(t, ta, "token")) {
		t.Errorf("a re-publish after the restart rewrote unchanged content")
	}
}

// NodeUnpublishVolume removes the files and the tmpfs mount, and a second call (the kubelet
// retries) succeeds too.
func TestUnpublish(t *testing.T) {
	need(t)
	namespace(t, "unpub", "app")
	writeEnv(t, "unpub", "app", "values:\n  k: v\n")
	secret(t, "unpub", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, "unpub", "app", map[string]string{"organization": "shop", "project": "unpub", "environment": "app"},
		"- fileName: k\n  secretKey: k\n", "")
	p := pod(t, "unpub", "app", "app", vol{name: "secrets", class: "app", nodePublishSecret: "pulumi-creds"})
	target := kl.TargetPath(p, "secrets")
	publish(t, p, "secrets")
	expectFiles(t, target, map[string]file{"k": {"v", 0o644}})
	for i := 0; i < 2; i++ {
		if err := kl.Unpublish(ctxFor(t, time.Minute), p, "secrets"); err != nil {
			t.Fatalf("NodeUnpublishVolume #%d: %v", i+1, err)
		}
	}
	if isMountPoint(t, target) {
		t.Errorf("%s is still mounted", target)
	}
	if _, err := os.Stat(filepath.Dir(target)); !os.IsNotExist(err) {
		t.Errorf("the volume's folder is still there (%v)", err)
	}
}
