package scenarios

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"esc-csi.e2e/kubelet"
)

// esc-csi stops (SIGTERM: exit 0, socket removed) and starts again under a running driver, as
// when its DaemonSet pod is replaced: a first mount asked for meanwhile waits for the socket
// and completes once the new process serves it.
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
	defer func() {
		if !c.DaemonRunning() {
			if err := c.StartDaemon(ctxFor(t, time.Minute)); err != nil {
				t.Errorf("restarting esc-csi: %v", err)
			}
		}
	}()
	b := pod(t, "restart", "b", "app", vol{name: "secrets", class: "app", nodePublishSecret: "pulumi-creds"})
	done := make(chan error, 1)
	go func() { done <- kl.Publish(ctxFor(t, kubelet.CallTimeout), b, "secrets") }()
	select {
	case err := <-done:
		t.Errorf("a mount with esc-csi stopped returned at once: %v", err)
	case <-time.After(2 * time.Second):
	}
	if err := c.StartDaemon(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the mount asked for while esc-csi restarted: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the mount asked for while esc-csi restarted did not finish within 45 s of the restart")
	}
	expectFiles(t, kl.TargetPath(b, "secrets"), map[string]file{"token": {"t-1", 0o644}})
	expectPodStatus(t, b, "app", "secrets", "token")

	// Without --version-key-file (the chart's default) versions are keyed per process: the
	// same content reports a new version once, and the files are left as they are.
	before := snapshot(t, ta, "token")
	waitRotationDue(written(t, ta))
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
