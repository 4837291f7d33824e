package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"esc-csi.e2e/cluster"
)

// written is when the driver last wrote the volume: the mtime of its root, which the driver
// compares with --rotation-poll-interval.
func written(t *testing.T, target string) time.Time {
	t.Helper()
	info, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}

// snapshot identifies what the driver wrote: the `..data` link and each file's inode.
func snapshot(t *testing.T, target string, names ...string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	link, err := os.Readlink(filepath.Join(target, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	out["..data -> "+link] = 0
	for _, n := range names {
		info, err := os.Stat(filepath.Join(target, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = info.Sys().(*syscall.Stat_t).Ino
	}
	return out
}

func sameMap[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Re-publish (requiresRepublish) inside the rotation interval is skipped by the driver; after
// it, esc-csi is called and, with nothing changed, nothing is rewritten and no version moves;
// after one value changes, that file and only its version change.
func TestRepublishAndRotation(t *testing.T) {
	need(t)
	namespace(t, "rot", "app")
	writeEnv(t, "rot", "app", "values:\n  a: one\n  b: two\n")
	secret(t, "rot", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, "rot", "rot", map[string]string{"organization": "shop", "project": "rot", "environment": "app"},
		"- fileName: a\n  secretKey: a\n- fileName: b\n  secretKey: b\n", "")
	p := pod(t, "rot", "app", "app", vol{name: "secrets", class: "rot", nodePublishSecret: "pulumi-creds"})
	target := kl.TargetPath(p, "secrets")
	publish(t, p, "secrets")
	expectFiles(t, target, map[string]file{"a": {"one", 0o644}, "b": {"two", 0o644}})
	v1 := expectPodStatus(t, p, "rot", "secrets", "a", "b")
	snap1 := snapshot(t, target, "a", "b")

	m0 := mounts(t)
	publish(t, p, "secrets")
	if got := mounts(t); got != m0 {
		t.Errorf("a re-publish inside the rotation interval reached esc-csi (%v Mount calls)", got-m0)
	}
	if !sameMap(snap1, snapshot(t, target, "a", "b")) {
		t.Errorf("a re-publish inside the rotation interval rewrote the volume")
	}

	waitRotationDue(written(t, target))
	publish(t, p, "secrets")
	if got := mounts(t); got != m0+1 {
		t.Errorf("a re-publish after the rotation interval made %v Mount calls, want 1", got-m0)
	}
	if !sameMap(snap1, snapshot(t, target, "a", "b")) {
		t.Errorf("a re-publish with nothing changed rewrote the volume")
	}
	if v := expectPodStatus(t, p, "rot", "secrets", "a", "b"); !sameMap(v, v1) {
		t.Errorf("versions moved with nothing changed: %v -> %v", v1, v)
	}

	writeEnv(t, "rot", "app", "values:\n  a: one\n  b: three\n")
	time.Sleep(1500 * time.Millisecond) // past esc-csi's --cache-ttl
	waitRotationDue(written(t, target))
	publish(t, p, "secrets")
	expectFiles(t, target, map[string]file{"a": {"one", 0o644}, "b": {"three", 0o644}})
	v2 := expectPodStatus(t, p, "rot", "secrets", "a", "b")
	if v2["a"] != v1["a"] {
		t.Errorf("a's version changed though a did not")
	}
	if v2["b"] == v1["b"] {
		t.Errorf("b's version did not change though b did")
	}
}

// secretObjects: the driver syncs mounted files into a Kubernetes Secret, and updates it when
// the files rotate.
func TestSecretObjectsSync(t *testing.T) {
	need(t)
	namespace(t, "sync", "web")
	writeEnv(t, "sync", "db", "values:\n  db:\n    user: admin\n    password:\n      fn::secret: pw-one\n")
	secret(t, "sync", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, "sync", "db", map[string]string{"organization": "shop", "project": "sync", "environment": "db"},
		"- fileName: db-user\n  secretKey: db.user\n- fileName: db-password\n  secretKey: db.password\n",
		"  secretObjects:\n  - secretName: db-creds\n    type: Opaque\n    labels:\n      app: web\n    data:\n    - objectName: db-user\n      key: username\n    - objectName: db-password\n      key: password\n")
	p := pod(t, "sync", "web", "web", vol{name: "secrets", class: "db", nodePublishSecret: "pulumi-creds"})
	target := kl.TargetPath(p, "secrets")
	publish(t, p, "secrets")
	expectFiles(t, target, map[string]file{"db-user": {"admin", 0o644}, "db-password": {"pw-one", 0o644}})
	expectSynced(t, p, "db-creds", map[string]string{"username": "admin", "password": "pw-one"})
	if s, err := c.Admin.Client.CoreV1().Secrets("sync").Get(ctxFor(t, 30*time.Second), "db-creds", metav1.GetOptions{}); err != nil || s.Labels["app"] != "web" {
		t.Errorf("the synced Secret lacks the class's label app=web (%v)", err)
	}

	writeEnv(t, "sync", "db", "values:\n  db:\n    user: admin\n    password:\n      fn::secret: pw-two\n")
	time.Sleep(1500 * time.Millisecond)
	waitRotationDue(written(t, target))
	publish(t, p, "secrets")
	expectFiles(t, target, map[string]file{"db-user": {"admin", 0o644}, "db-password": {"pw-two", 0o644}})
	expectSynced(t, p, "db-creds", map[string]string{"username": "admin", "password": "pw-two"})
}

// secretObjects added to a class that a pod already mounts: as docs/sync-secrets.md says, the
// driver creates no Secret until the pod's SecretProviderClassPodStatus changes, here by a
// rotation that changes an object version.
func TestSecretObjectsAddedLater(t *testing.T) {
	need(t)
	namespace(t, "late", "web")
	writeEnv(t, "late", "db", "values:\n  db:\n    user: admin\n    password: pw-one\n")
	secret(t, "late", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	params := map[string]string{"organization": "shop", "project": "late", "environment": "db"}
	items := "- fileName: db-user\n  secretKey: db.user\n- fileName: db-password\n  secretKey: db.password\n"
	spc(t, "late", "db", params, items, "")
	p := pod(t, "late", "web", "web", vol{name: "secrets", class: "db", nodePublishSecret: "pulumi-creds"})
	target := kl.TargetPath(p, "secrets")
	publish(t, p, "secrets")
	spc(t, "late", "db", params, items,
		"  secretObjects:\n  - secretName: db-creds\n    type: Opaque\n    data:\n    - objectName: db-user\n      key: username\n    - objectName: db-password\n      key: password\n")
	time.Sleep(5 * time.Second)
	if _, err := c.Admin.Client.CoreV1().Secrets("late").Get(ctxFor(t, 30*time.Second), "db-creds", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret exists (or cannot be read: %v) before the pod's status changed; update docs/sync-secrets.md", err)
	}
	writeEnv(t, "late", "db", "values:\n  db:\n    user: admin\n    password: pw-two\n")
	time.Sleep(1500 * time.Millisecond)
	waitRotationDue(written(t, target))
	publish(t, p, "secrets")
	expectSynced(t, p, "db-creds", map[string]string{"username": "admin", "password": "pw-two"})
}

func expectSynced(t *testing.T, p *corev1.Pod, name string, want map[string]string) {
	t.Helper()
	var got *corev1.Secret
	err := cluster.Poll(ctxFor(t, 90*time.Second), "the synced Secret "+p.Namespace+"/"+name, 60*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		s, err := c.Admin.Client.CoreV1().Secrets(p.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not found", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		got = s
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return sameMap(data, want), "keys " + keys(data), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["secrets-store.csi.k8s.io/managed"] != "true" {
		t.Errorf("the synced Secret's labels: %v", got.Labels)
	}
	if got.Type != corev1.SecretTypeOpaque {
		t.Errorf("the synced Secret's type: %s", got.Type)
	}
}
