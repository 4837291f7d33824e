package scenarios

import (
	"os"
	"strings"
	"testing"
	"time"
)

// podMounts lists the host's mounts under the kubelet's folder of the pod (the test runs on
// the node, as root).
func podMounts(t *testing.T, uid string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.Contains(f[4], "/pods/"+uid+"/") {
			found = append(found, f[4])
		}
	}
	return found
}

// Deleting a pod unmounts its volume: the driver's tmpfs is gone from the host.
func TestDeletingAPodRemovesItsTmpfs(t *testing.T) {
	namespace(t, "deletion")
	must(t, "", "-n", "deletion", "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	apply(t, guideClass("guide", "deletion", "esc-token", "app.hello")+`---
apiVersion: v1
kind: Pod
metadata: {name: short, namespace: deletion, labels: {app: short}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: esc
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: guide}}
`)
	readyPod(t, "deletion", "app=short", 3*time.Minute)
	uid := strings.TrimSpace(must(t, "", "-n", "deletion", "get", "pod", "short", "-o", "jsonpath={.metadata.uid}"))
	if m := podMounts(t, uid); len(m) == 0 {
		t.Fatal("the running pod has no mount on the host")
	}
	must(t, "", "-n", "deletion", "delete", "pod", "short", "--wait=true", "--timeout=2m")
	eventually(t, "the pod's mounts to go", time.Minute, func() string {
		if m := podMounts(t, uid); len(m) > 0 {
			return strings.Join(m, ", ")
		}
		if _, err := os.Stat("/var/lib/kubelet/pods/" + uid); err == nil {
			return "the pod's folder remains"
		}
		return ""
	})
}

// A class naming a key the environment lacks: the pod does not start, and its events carry
// the driver's wrapping of esc-csi's message, as docs/troubleshooting.md shows it.
func TestAFailedMountShowsAsThePodsEventWithTheDocumentedText(t *testing.T) {
	namespace(t, "neg")
	must(t, "", "-n", "neg", "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	apply(t, guideClass("bad-path", "neg", "esc-token", "app.helo")+`---
apiVersion: v1
kind: Pod
metadata: {name: bad-path, namespace: neg}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      volumeMounts: [{name: secrets, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: secrets
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: bad-path}}
`)
	want := `MountVolume.SetUp failed for volume "secrets" : rpc error: code = NotFound desc = failed to mount secrets store objects for pod neg/bad-path, err: rpc error: code = NotFound desc = cannot mount from ESC environment dirien/esc-secrets-store-csi-driver-demo/csi-secrets-store-app: secrets[0] ("hello"): ` + "`app` has no key \"helo\" (did you mean \"hello\"?)"
	eventually(t, "the FailedMount event", 2*time.Minute, func() string {
		out, err := kubectl("", "-n", "neg", "get", "events", "--field-selector", "involvedObject.name=bad-path,reason=FailedMount", "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
		if err != nil {
			return err.Error()
		}
		for _, line := range strings.Split(out, "\n") {
			if line == want {
				return ""
			}
		}
		return "events: " + out
	})
	if phase := must(t, "", "-n", "neg", "get", "pod", "bad-path", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Errorf("the pod is %s, want Pending", phase)
	}
}
