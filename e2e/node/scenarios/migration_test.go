package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// docs/migration.md followed step by step, from the Go provider (pulumi/pulumi-esc-csi-provider,
// vendored in peers/ and installed with its own chart; `.ci/node go-provider` makes its image)
// to esc-csi with presets/go-provider.yaml, then its Rollback, with the Pulumi guide's class
// and Deployment: in `default` as the guide has them, and a team's copy in team-a whose class
// still reads the Secret in `default` (what the preset's cross-namespace setting is for).
func TestFollowingMigrationMdMovesTheGuidesDeploymentOffTheGoProviderAndBackWithNoFailedMount(t *testing.T) {
	image, chart := os.Getenv("GO_PROVIDER_IMAGE"), os.Getenv("GO_PROVIDER_CHART")
	if image == "" || chart == "" {
		if os.Getenv("E2E_REQUIRE") != "" {
			t.Fatal("GO_PROVIDER_IMAGE and GO_PROVIDER_CHART are not set: eval \"$(.ci/node go-provider)\"")
		}
		t.Skip("no Go provider image: eval \"$(.ci/node go-provider)\"")
	}
	began := time.Now()
	step := func(what string) { t.Logf("[+%5.1fs] %s", time.Since(began).Seconds(), what) }
	goValues := []string{"--set", "image.repository=" + strings.Split(image, ":")[0],
		"--set", "image.tag=" + image[strings.LastIndex(image, ":")+1:],
		"--set", "image.pullPolicy=IfNotPresent"} // no registry here: the image is imported
	escImage := must(t, "", "-n", "kube-system", "get", "ds", "esc-csi", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	escValues := []string{"--set", "image.repository=" + strings.Split(escImage, ":")[0],
		"--set", "image.tag=" + escImage[strings.LastIndex(escImage, ":")+1:],
		"--set", "args.apiUrl=" + escAPIURL, "--set", "args.allowInsecureApiUrl=true",
		"--set", "args.allowedApiUrls={" + escAPIURL + "}"} // the node's esc-server, as .ci/node up sets it

	// The cluster as a Go provider's user has it: no esc-csi, and a CSIDriver without
	// tokenRequests (the Go provider refuses the attribute they add to every mount).
	dir := t.TempDir()
	saved := filepath.Join(dir, "esc-csi-values.yaml")
	if err := os.WriteFile(saved, []byte(helm(t, "get", "values", "esc-csi", "--namespace", "kube-system", "-o", "yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenRequests := must(t, "", "get", "csidriver", "secrets-store.csi.k8s.io", "-o", "jsonpath={.spec.tokenRequests}")
	t.Cleanup(func() {
		for _, ns := range []string{"default", "team-a"} {
			kubectl("", "-n", ns, "delete", "deploy/busybox-deployment", "secretproviderclass/example-provider-pulumi-esc",
				"pod/during-the-switch", "secret/pulumi-secret-provider-auth-credentials", "--ignore-not-found", "--wait=false")
		}
		cleanup := time.Now()
		exec.Command("helm", "uninstall", "pulumi-esc-csi-provider", "--namespace", "kube-system").Run()
		// It ignores SIGTERM, so its pod would go after its 30 s grace period (a shorter one
		// given now is not honoured): its process killed, as a crash, then its pod gone, so
		// that esc-csi does not find it answering on the socket.
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(d, "cmdline")); err == nil && strings.HasPrefix(string(b), "/usr/bin/pulumi-esc-csi-provider\x00") {
				exec.Command("kill", "-9", filepath.Base(d)).Run()
			}
		}
		kubectl("", "-n", "kube-system", "wait", "--for=delete", "pod", "-l", "app=pulumi-esc-csi-provider", "--timeout=120s")
		if tokenRequests != "" {
			kubectl(`{"spec":{"tokenRequests":`+tokenRequests+`}}`, "patch", "csidriver", "secrets-store.csi.k8s.io", "--type=merge", "--patch-file=/dev/stdin")
		}
		if out, err := exec.Command("helm", "upgrade", "--install", "esc-csi", "../../../charts/esc-csi", "--namespace", "kube-system",
			"--reset-values", "-f", saved, "--wait", "--timeout", "3m").CombinedOutput(); err != nil {
			t.Errorf("putting esc-csi back as .ci/node up installed it: %v: %s", err, out)
		}
		kubectl("", "-n", "kube-system", "rollout", "status", "ds/esc-csi", "--timeout=3m")
		t.Logf("esc-csi back as .ci/node up installed it in %.1fs", time.Since(cleanup).Seconds())
	})
	helm(t, "uninstall", "esc-csi", "--namespace", "kube-system", "--wait")
	must(t, "", "-n", "kube-system", "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=esc-csi", "--timeout=120s")
	if tokenRequests != "" {
		must(t, `[{"op":"remove","path":"/spec/tokenRequests"}]`, "patch", "csidriver", "secrets-store.csi.k8s.io", "--type=json", "--patch-file=/dev/stdin")
	}

	// The Go provider with its own chart (what its README's `helm install ... oci://` installs).
	helm(t, append([]string{"install", "pulumi-esc-csi-provider", chart, "--namespace", "kube-system", "--wait", "--timeout", "3m"}, goValues...)...)
	must(t, "", "-n", "kube-system", "rollout", "status", "ds/pulumi-esc-csi-provider", "--timeout=3m")
	step("the Go provider runs")
	must(t, "", "-n", "default", "create", "secret", "generic", "pulumi-secret-provider-auth-credentials",
		"--from-literal=pulumi-access-token="+escToken)
	namespace(t, "team-a")
	apply(t, pulumiGuideClass("default", "default")+"---\n"+pulumiGuideDeployment("default"))
	apply(t, pulumiGuideClass("team-a", "default")+"---\n"+pulumiGuideDeployment("team-a"))
	namespaces := []string{"default", "team-a"}
	// The Go provider writes every file with mode 0 (migration.md's table); root reads it.
	everyPodReads(t, namespaces, "0")
	survivor := podsOf(t, "default", "app=busybox")[0]
	step("the guide's Deployments run on the Go provider")

	// Step 1: `check` says how each class authenticates and what a default daemon would refuse.
	guide := filepath.Join(dir, "guide.yaml")
	teamA := filepath.Join(dir, "team-a.yaml")
	url := strings.NewReplacer("${ESC_API_URL}", escAPIURL)
	for file, class := range map[string]string{guide: pulumiGuideClass("default", "default"), teamA: pulumiGuideClass("team-a", "default")} {
		if err := os.WriteFile(file, []byte(url.Replace(class)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	daemon := []string{"--api-url", escAPIURL, "--allow-insecure-api-url", "--allowed-api-url", escAPIURL}
	out, errOut, code := escCSI(t, append([]string{"check", guide}, daemon...)...)
	if code != 0 || !strings.Contains(out, "else Secret default/pulumi-secret-provider-auth-credentials (key pulumi-access-token), read through the Kubernetes API") ||
		errOut != "warning: reading Secret default/pulumi-secret-provider-auth-credentials needs a daemon allowed to read Secrets: "+
			"install the chart with authSecrets.enabled, or with -f charts/esc-csi/presets/go-provider.yaml for the Go provider's "+
			"permissions (pass --auth-secrets to check for such a daemon)\n" {
		t.Errorf("check of the guide's class: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("esc-csi check guide.yaml: exit %d\n%s%s", code, out, errOut)
	refused := "would be refused by the daemon: the SecretProviderClass asks for auth Secret " +
		"default/pulumi-secret-provider-auth-credentials, but the pod runs in namespace team-a"
	for _, args := range [][]string{{"check", guide, "--namespace", "team-a"}, {"check", teamA}} {
		if out, errOut, code := escCSI(t, append(args, daemon...)...); code != 1 || !strings.Contains(errOut, refused) {
			t.Errorf("esc-csi %s: exit %d, want 1 and %q\n%s%s", strings.Join(args, " "), code, refused, out, errOut)
		} else {
			t.Logf("esc-csi %s %s: exit %d\n%s", args[0], strings.Join(append([]string{filepath.Base(args[1])}, args[2:]...), " "), code, errOut)
		}
	}
	for _, file := range []string{guide, teamA} {
		args := append([]string{"check", file, "--auth-secrets", "--allow-cross-namespace-auth", "--strict"}, daemon...)
		if out, errOut, code := escCSI(t, args...); code != 0 || errOut != "" {
			t.Errorf("check %s against the preset's contract: exit %d\n%s%s", filepath.Base(file), code, out, errOut)
		}
	}
	step("step 1: check warns for the guide's class (exit 0), refuses it for team-a's pods (exit 1), passes with the preset's flags")

	// Step 2: remove the Go provider.
	helm(t, "uninstall", "pulumi-esc-csi-provider", "--namespace", "kube-system")
	must(t, "", "-n", "kube-system", "wait", "--for=delete", "pod", "-l", "app=pulumi-esc-csi-provider", "--timeout=120s")
	step("step 2: the Go provider's pods are gone")
	apply(t, `apiVersion: v1
kind: Pod
metadata: {name: during-the-switch, namespace: default, labels: {app: gap}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      volumeMounts: [{name: esc, mountPath: /mnt/secrets-store, readOnly: true}]
  volumes:
    - name: esc
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: example-provider-pulumi-esc}}
`)
	time.Sleep(3 * time.Second)
	if phase := must(t, "", "-n", "default", "get", "pod", "during-the-switch", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Errorf("a pod created with no provider on the node is %s, want Pending", phase)
	}
	if got := inPod(t, "default", survivor, "cat /mnt/secrets-store/hello"); got != "world" {
		t.Errorf("with no provider, the running pod reads %q", got)
	}

	// Step 3: esc-csi with the Go provider's contract.
	helm(t, append([]string{"upgrade", "--install", "esc-csi", "../../../charts/esc-csi", "--namespace", "kube-system",
		"-f", "../../../charts/esc-csi/presets/go-provider.yaml"}, escValues...)...)
	must(t, "", "-n", "kube-system", "rollout", "status", "ds/esc-csi", "--timeout=5m")
	escReady := readySince(t, "app.kubernetes.io/name=esc-csi")
	step("step 3: esc-csi is Ready")
	readyPod(t, "default", "app=gap", 3*time.Minute)
	gapReady := readySince(t, "app=gap", "default")
	step("the pod created during the switch is Ready, " + gapReady.Sub(escReady).String() + " after esc-csi")
	// The driver v1.6 waits for a provider on the socket (migration.md): no failed mount.
	if ev := failedMounts(t, "default", time.Time{}, "during-the-switch"); len(ev) > 0 {
		t.Errorf("the pod created during the switch has FailedMount events: %s", ev)
	}
	if got := inPod(t, "default", "during-the-switch", "cat /mnt/secrets-store/hello"); got != "world" {
		t.Errorf("the pod created during the switch reads %q", got)
	}
	if got := inPod(t, "default", survivor, "cat /mnt/secrets-store/hello"); got != "world" {
		t.Errorf("the pod that ran through the switch reads %q", got)
	}
	if ev := failedMounts(t, "default", time.Time{}, survivor); len(ev) > 0 {
		t.Errorf("the pod that ran through the switch has FailedMount events: %s", ev)
	}

	// Step 4: restart the workloads on esc-csi.
	for _, ns := range namespaces {
		must(t, "", "-n", ns, "rollout", "restart", "deploy/busybox-deployment")
	}
	for _, ns := range namespaces {
		must(t, "", "-n", ns, "rollout", "status", "deploy/busybox-deployment", "--timeout=3m")
	}
	everyPodReads(t, namespaces, "644")
	noFailedMountSince(t, namespaces, escReady)
	step("step 4: both Deployments restarted on esc-csi, every pod reads its file, no FailedMount since esc-csi was Ready")

	// Rollback.
	helm(t, "uninstall", "esc-csi", "--namespace", "kube-system")
	must(t, "", "-n", "kube-system", "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=esc-csi", "--timeout=120s")
	helm(t, append([]string{"install", "pulumi-esc-csi-provider", chart, "--namespace", "kube-system"}, goValues...)...)
	must(t, "", "-n", "kube-system", "rollout", "status", "ds/pulumi-esc-csi-provider", "--timeout=5m")
	goReady := readySince(t, "app=pulumi-esc-csi-provider")
	for _, ns := range namespaces {
		must(t, "", "-n", ns, "rollout", "restart", "deploy/busybox-deployment")
	}
	for _, ns := range namespaces {
		must(t, "", "-n", ns, "rollout", "status", "deploy/busybox-deployment", "--timeout=3m")
	}
	everyPodReads(t, namespaces, "0")
	noFailedMountSince(t, namespaces, goReady)
	step("rollback: both Deployments restarted on the Go provider, every pod reads its file, no FailedMount since it was Ready")
}

// helm runs helm (the node's, on PATH) and returns its output; a failure ends the test.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "helm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// escCSI runs the node's esc-csi binary and returns its stdout, stderr and exit code.
func escCSI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("esc-csi", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("esc-csi %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// podsOf lists the pods matching selector that are not being deleted.
func podsOf(t *testing.T, ns, selector string) []string {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string  `json:"name"`
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(must(t, "", "-n", ns, "get", "pod", "-l", selector, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		if p.Metadata.DeletionTimestamp == nil {
			names = append(names, p.Metadata.Name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no pod %s in %s", selector, ns)
	}
	return names
}

// everyPodReads checks that every pod of the guide's Deployment in each namespace reads the
// value, and the file's mode.
func everyPodReads(t *testing.T, namespaces []string, mode string) {
	t.Helper()
	for _, ns := range namespaces {
		readyPod(t, ns, "app=busybox", 3*time.Minute)
		for _, pod := range podsOf(t, ns, "app=busybox") {
			if got := inPod(t, ns, pod, "cat /mnt/secrets-store/hello"); got != "world" {
				t.Errorf("%s/%s reads %q, want %q", ns, pod, got, "world")
			}
			if got := strings.TrimSpace(inPod(t, ns, pod, "stat -L -c %a /mnt/secrets-store/hello")); got != mode {
				t.Errorf("%s/%s: hello has mode %s, want %s", ns, pod, got, mode)
			}
		}
	}
}

// readySince is when the (first) pod matching selector became Ready, in kube-system unless a
// namespace is given.
func readySince(t *testing.T, selector string, ns ...string) time.Time {
	t.Helper()
	n := "kube-system"
	if len(ns) > 0 {
		n = ns[0]
	}
	at := must(t, "", "-n", n, "get", "pod", "-l", selector, "-o",
		`jsonpath={.items[0].status.conditions[?(@.type=="Ready")].lastTransitionTime}`)
	ready, err := time.Parse(time.RFC3339, at)
	if err != nil {
		t.Fatalf("the Ready time of %s: %v", selector, err)
	}
	return ready
}

// failedMounts lists the FailedMount events in ns last seen after since (of pod only, when given).
func failedMounts(t *testing.T, ns string, since time.Time, pod ...string) []string {
	t.Helper()
	var list struct {
		Items []struct {
			InvolvedObject struct {
				Name string `json:"name"`
			} `json:"involvedObject"`
			Message       string    `json:"message"`
			Count         int       `json:"count"`
			LastTimestamp time.Time `json:"lastTimestamp"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(must(t, "", "-n", ns, "get", "events", "--field-selector", "reason=FailedMount", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range list.Items {
		if e.LastTimestamp.After(since) && (len(pod) == 0 || e.InvolvedObject.Name == pod[0]) {
			found = append(found, fmt.Sprintf("%s (x%d, last %s): %s", e.InvolvedObject.Name, e.Count, e.LastTimestamp.Format(time.TimeOnly), e.Message))
		}
	}
	return found
}

// noFailedMountSince fails on any FailedMount event in the namespaces after since.
func noFailedMountSince(t *testing.T, namespaces []string, since time.Time) {
	t.Helper()
	for _, ns := range namespaces {
		if ev := failedMounts(t, ns, since); len(ev) > 0 {
			t.Errorf("FailedMount in %s after %s:\n%s", ns, since.Format(time.TimeOnly), strings.Join(ev, "\n"))
		}
	}
}
