package scenarios

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// node runs .ci/node with args (the test runs on the node, as root).
func node(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{"../../../.ci/node"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf(".ci/node %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// watcherPod applies a class on the guide's environment and a pod that reads `hello` five times
// a second, printing MISSING when the read fails and the content otherwise.
func watcherPod(t *testing.T, ns string) string {
	t.Helper()
	namespace(t, ns)
	must(t, "", "-n", ns, "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	apply(t, fmt.Sprintf(guideClass("guide", "%[1]s", "esc-token", "app.hello")+`---
apiVersion: v1
kind: Pod
metadata: {name: watcher, namespace: %[1]s, labels: {app: watcher}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sh", "-c", "while true; do v=$(cat /mnt/esc/hello 2>/dev/null) || v=MISSING; echo \"read:$v\"; sleep 0.2; done"]
      volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: esc
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: guide}}
`, ns))
	return readyPod(t, ns, "app=watcher", 3*time.Minute)
}

// everyReadWhole fails unless every read the watcher logged gave the whole value.
func everyReadWhole(t *testing.T, ns string) {
	t.Helper()
	log := must(t, "", "-n", ns, "logs", "watcher")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		n++
		if line != "read:world" {
			t.Errorf("the running pod read %q", line)
		}
	}
	t.Logf("the running pod read its file %d times, each whole", n)
}

// startPods creates a pod with the class every two seconds until stop is closed; returns their names.
func startPods(t *testing.T, ns string, stop <-chan struct{}) <-chan []string {
	done := make(chan []string, 1)
	go func() {
		var names []string
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- names
				return
			case <-time.After(2 * time.Second):
			}
			name := fmt.Sprintf("during-%d", i)
			manifest := strings.NewReplacer("${APP_IMAGE}", appImage).Replace(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: during}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      readinessProbe: {exec: {command: ["grep", "-qx", "world", "/mnt/esc/hello"]}, periodSeconds: 1}
      volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: esc
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: guide}}
`, name, ns))
			if _, err := kubectl(manifest, "apply", "-f", "-"); err == nil {
				names = append(names, name)
			}
		}
	}()
	return done
}

// allReady fails unless every pod started during the disruption becomes Ready.
func allReady(t *testing.T, ns string, names []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("no pod was created during the disruption")
	}
	if _, err := kubectl("", "-n", ns, "wait", "--for=condition=Ready", "pod", "-l", "app=during", "--timeout=3m"); err != nil {
		events, _ := kubectl("", "-n", ns, "get", "events", "--field-selector", "reason=FailedMount")
		t.Fatalf("%v\n%s", err, events)
	}
	t.Logf("%d pods created during the disruption all became Ready", len(names))
}

// `helm upgrade` of the esc-csi DaemonSet to a new image tag while pods are created and a
// running pod reads its file: every new pod starts, every read gives the whole value.
func TestARollingUpgradeOfTheDaemonLosesNoMountAndNoFile(t *testing.T) {
	ns := "upgrade"
	watcherPod(t, ns)
	image := strings.TrimSpace(must(t, "", "-n", "kube-system", "get", "ds", "esc-csi", "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
	repo, tag, _ := strings.Cut(image, ":")
	next := tag + "-next"
	if out, err := exec.Command("bash", "../../../.ci/node", "ctr", "images", "tag", image, repo+":"+next).CombinedOutput(); err != nil && !strings.Contains(string(out), "already exists") {
		t.Fatalf("tagging %s: %v: %s", image, err, out)
	}
	oldPod := strings.TrimSpace(must(t, "", "-n", "kube-system", "get", "pod", "-l", "app.kubernetes.io/name=esc-csi", "-o", "jsonpath={.items[0].metadata.name}"))
	stop := make(chan struct{})
	created := startPods(t, ns, stop)
	time.Sleep(3 * time.Second)
	out, err := exec.Command("../../../target/tools/bin/helm", "upgrade", "esc-csi", "../../../charts/esc-csi", "--namespace", "kube-system",
		"--reuse-values", "--set", "image.tag="+next, "--wait", "--timeout", "3m").CombinedOutput()
	if err != nil {
		close(stop)
		t.Fatalf("helm upgrade: %v: %s", err, out)
	}
	must(t, "", "-n", "kube-system", "rollout", "status", "ds/esc-csi", "--timeout=3m")
	time.Sleep(5 * time.Second)
	close(stop)
	names := <-created
	newPod := strings.TrimSpace(must(t, "", "-n", "kube-system", "get", "pod", "-l", "app.kubernetes.io/name=esc-csi", "-o", "jsonpath={.items[0].metadata.name}"))
	if newPod == oldPod {
		t.Fatalf("the DaemonSet's pod %s was not replaced", oldPod)
	}
	allReady(t, ns, names)
	everyReadWhole(t, ns)
	t.Cleanup(func() {
		exec.Command("../../../target/tools/bin/helm", "upgrade", "esc-csi", "../../../charts/esc-csi", "--namespace", "kube-system",
			"--reuse-values", "--set", "image.tag="+tag, "--wait", "--timeout", "3m").Run()
	})
}

// The daemon's process killed (as a crash): the kubelet restarts its container, pods created
// meanwhile start, the running pod keeps reading its file.
func TestACrashedDaemonIsRestartedAndLosesNoMount(t *testing.T) {
	ns := "crash"
	watcherPod(t, ns)
	restarts := func() string {
		return must(t, "", "-n", "kube-system", "get", "pod", "-l", "app.kubernetes.io/name=esc-csi", "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}")
	}
	before := restarts()
	stop := make(chan struct{})
	created := startPods(t, ns, stop)
	time.Sleep(3 * time.Second)
	for _, pid := range daemonPIDs(t) {
		if out, err := exec.Command("kill", "-9", pid).CombinedOutput(); err != nil {
			t.Fatalf("kill %s: %v: %s", pid, err, out)
		}
	}
	eventually(t, "the kubelet to restart the daemon", 2*time.Minute, func() string {
		if r := restarts(); r == before {
			return "restartCount still " + r
		}
		return ""
	})
	must(t, "", "-n", "kube-system", "rollout", "status", "ds/esc-csi", "--timeout=3m")
	time.Sleep(5 * time.Second)
	close(stop)
	allReady(t, ns, <-created)
	everyReadWhole(t, ns)
}

// The kubelet restarted with pods running: their volumes stay mounted and readable, and a
// pod created afterwards mounts.
func TestAKubeletRestartKeepsVolumesMounted(t *testing.T) {
	ns := "kubelet-restart"
	pod := watcherPod(t, ns)
	uid := strings.TrimSpace(must(t, "", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}"))
	node(t, "restart-kubelet")
	eventually(t, "the node to report Ready after the restart", 2*time.Minute, func() string {
		out, _ := kubectl("", "get", "node", "-o", "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].status}")
		if out != "True" {
			return out
		}
		return ""
	})
	if m := podMounts(t, uid); len(m) == 0 {
		t.Fatal("the pod's volume is no longer mounted after the kubelet restart")
	}
	eventually(t, "the pod to be readable through the restarted kubelet", 2*time.Minute, func() string {
		out, err := kubectl("", "-n", ns, "exec", pod, "--", "cat", "/mnt/esc/hello")
		if err != nil || out != "world" {
			return out + " " + errString(err)
		}
		return ""
	})
	if r := must(t, "", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"); r != "0" {
		t.Errorf("the pod's container restarted %s times", r)
	}
	stop := make(chan struct{})
	created := startPods(t, ns, stop)
	time.Sleep(3 * time.Second)
	close(stop)
	allReady(t, ns, <-created)
	everyReadWhole(t, ns)
}
