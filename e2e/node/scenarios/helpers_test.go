// Package scenarios runs on the real node of `.ci/node up` (.ci/node-e2e): each scenario applies
// what a user applies with kubectl and asserts what the pod itself sees (`kubectl exec`, the
// pod's log, its events). It reads `.ci/node env`'s variables and NODE_ENVIRONMENTS, the folder
// esc-server serves (scenarios write their environments there); without them it skips, unless
// E2E_REQUIRE is set.
package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var escAPIURL, escToken, appImage, envDir string

func TestMain(m *testing.M) {
	escAPIURL, escToken, appImage = os.Getenv("ESC_API_URL"), os.Getenv("ESC_TOKEN"), os.Getenv("APP_IMAGE")
	envDir = os.Getenv("NODE_ENVIRONMENTS")
	if escAPIURL == "" || escToken == "" || appImage == "" || envDir == "" || os.Getenv("KUBECONFIG") == "" {
		if os.Getenv("E2E_REQUIRE") != "" {
			fmt.Fprintln(os.Stderr, "E2E_REQUIRE is set but the node's variables are not: eval \"$(.ci/node env)\"")
			os.Exit(1)
		}
		fmt.Println("no node (eval \"$(.ci/node env)\" and set NODE_ENVIRONMENTS): skipping")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kubectl runs kubectl with stdin and returns its output, or the error with its stderr.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply applies manifests with ${ESC_API_URL} and ${APP_IMAGE} replaced.
func apply(t *testing.T, manifests string) {
	t.Helper()
	r := strings.NewReplacer("${ESC_API_URL}", escAPIURL, "${APP_IMAGE}", appImage)
	must(t, r.Replace(manifests), "apply", "-f", "-")
}

// namespace creates a namespace that is deleted when the test ends.
func namespace(t *testing.T, name string) {
	t.Helper()
	must(t, "", "create", "namespace", name)
	t.Cleanup(func() { kubectl("", "delete", "namespace", name, "--wait=false") })
}

// writeEnv writes the environment definition <project>/<name> into the served folder.
func writeEnv(t *testing.T, project, name, definition string) {
	t.Helper()
	dir := filepath.Join(envDir, project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(definition), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readyPod waits for one pod matching selector to be Ready and returns its name.
func readyPod(t *testing.T, ns, selector string, timeout time.Duration) string {
	t.Helper()
	// `kubectl wait -l` fails at once while no pod matches (a Deployment's pod comes later).
	eventually(t, "a pod "+selector, time.Minute, func() string {
		if out, _ := kubectl("", "-n", ns, "get", "pod", "-l", selector, "-o", "name"); strings.TrimSpace(out) == "" {
			return "none yet"
		}
		return ""
	})
	if _, err := kubectl("", "-n", ns, "wait", "--for=condition=Ready", "pod", "-l", selector, "--timeout="+timeout.String()); err != nil {
		describe, _ := kubectl("", "-n", ns, "describe", "pod", "-l", selector)
		t.Fatalf("%v\n%s", err, describe)
	}
	return strings.TrimSpace(must(t, "", "-n", ns, "get", "pod", "-l", selector, "-o", "jsonpath={.items[0].metadata.name}"))
}

// inPod runs a shell command in the pod's (first) container and returns its output.
func inPod(t *testing.T, ns, pod, script string) string {
	t.Helper()
	return must(t, "", "-n", ns, "exec", pod, "--", "sh", "-c", script)
}

// eventually retries check every second until it returns "" (success) or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: not within %s: %s", what, timeout, last)
}

// guideClass is a SecretProviderClass over the Pulumi guide's environment, named name in
// namespace ns, mounting key as the file hello, authenticated by the Secret authSecret in the
// pod's namespace (by the volume's nodePublishSecretRef when authSecret is ""). It ends with a
// line break, so that more documents can follow it.
func guideClass(name, ns, authSecret, key string) string {
	auth := ""
	if authSecret != "" {
		auth = "    authSecretName: " + authSecret + "\n"
	}
	return `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  provider: pulumi
  parameters:
    organization: dirien
    project: esc-secrets-store-csi-driver-demo
    environment: csi-secrets-store-app
` + auth + `    secrets: |
      - fileName: hello
        secretKey: ` + key + "\n"
}

// pulumiGuideClass is the Pulumi guide's SecretProviderClass
// (examples/secretproviderclasses/pulumi-docs.yaml) in namespace ns, unchanged but for apiUrl
// (esc-server) and namespaces: its token in the Secret pulumi-secret-provider-auth-credentials
// of namespace secretNS. It ends with a line break.
func pulumiGuideClass(ns, secretNS string) string {
	return `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: example-provider-pulumi-esc
  namespace: ` + ns + `
spec:
  provider: pulumi
  parameters:
    apiUrl: ${ESC_API_URL}
    organization: dirien
    project: esc-secrets-store-csi-driver-demo
    environment: csi-secrets-store-app
    authSecretName: pulumi-secret-provider-auth-credentials
    authSecretNamespace: ` + secretNS + `
    secrets: |
      - secretPath: "/"
        fileName: "hello"
        secretKey: "app.hello"
`
}

// pulumiGuideDeployment is the driver docs' busybox Deployment the Pulumi guide uses, in
// namespace ns, mounting pulumiGuideClass at /mnt/secrets-store; unchanged but for the image
// and a zero grace period.
func pulumiGuideDeployment(ns string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: busybox-deployment
  namespace: ` + ns + `
  labels: {app: busybox}
spec:
  replicas: 1
  selector:
    matchLabels: {app: busybox}
  template:
    metadata:
      labels: {app: busybox}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: busybox
          image: ${APP_IMAGE}
          command: ["/bin/sleep", "10000"]
          volumeMounts:
            - name: secrets-store01-inline
              mountPath: "/mnt/secrets-store"
              readOnly: true
      volumes:
        - name: secrets-store01-inline
          csi:
            driver: secrets-store.csi.k8s.io
            readOnly: true
            volumeAttributes:
              secretProviderClass: "example-provider-pulumi-esc"
`
}
