package scenarios

import (
	"strings"
	"testing"
	"time"
)

// rotationWithin bounds how long a change in ESC takes to reach a running pod: the driver's
// rotation poll (.ci/node-e2e sets 10s) is checked at the kubelet's re-publishes, which follow
// its pod sync period (1 minute, with jitter), plus esc-csi's cache TTL (30s).
const rotationWithin = 4 * time.Minute

// An ESC value edited while the pod runs: the running container reads the new value; the
// Secret synced by secretObjects follows, and a pod started afterwards gets the new value in
// its environment variable.
func TestAnEditedValueReachesTheRunningPodAndItsSyncedSecret(t *testing.T) {
	writeEnv(t, "node", "rotating", "values:\n  app:\n    color: blue\n")
	namespace(t, "rotation")
	must(t, "", "-n", "rotation", "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	apply(t, `
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: rotating, namespace: rotation}
spec:
  provider: pulumi
  secretObjects:
    - secretName: app-color
      type: Opaque
      data: [{objectName: color, key: COLOR}]
  parameters:
    organization: acme
    project: node
    environment: rotating
    authSecretName: esc-token
    secrets: |
      - fileName: color
        secretKey: app.color
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: rotation}
spec:
  replicas: 1
  selector: {matchLabels: {app: rotating}}
  template:
    metadata: {labels: {app: rotating}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: app
          image: ${APP_IMAGE}
          command: ["sh", "-c", "echo COLOR=$COLOR; exec sleep 100000"]
          env: [{name: COLOR, valueFrom: {secretKeyRef: {name: app-color, key: COLOR, optional: true}}}]
          volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
      volumes:
        - name: esc
          csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: rotating}}
`)
	pod := readyPod(t, "rotation", "app=rotating", 3*time.Minute)
	if got := inPod(t, "rotation", pod, "cat /mnt/esc/color"); got != "blue" {
		t.Fatalf("color is %q, want blue", got)
	}
	eventually(t, "the synced Secret", time.Minute, func() string {
		out, err := kubectl("", "-n", "rotation", "get", "secret", "app-color", "-o", "jsonpath={.data.COLOR}")
		if err != nil || out != "Ymx1ZQ==" { // blue
			return out + " " + errString(err)
		}
		return ""
	})

	start := time.Now()
	writeEnv(t, "node", "rotating", "values:\n  app:\n    color: green\n")
	eventually(t, "the new value in the running pod", rotationWithin, func() string {
		if got := inPod(t, "rotation", pod, "cat /mnt/esc/color"); got != "green" {
			return "color is " + got
		}
		return ""
	})
	t.Logf("measured: the running pod read the edited value %s after the edit", time.Since(start).Round(time.Second))
	eventually(t, "the synced Secret to follow", time.Minute, func() string {
		out, err := kubectl("", "-n", "rotation", "get", "secret", "app-color", "-o", "jsonpath={.data.COLOR}")
		if err != nil || out != "Z3JlZW4=" { // green
			return out + " " + errString(err)
		}
		return ""
	})
	must(t, "", "-n", "rotation", "rollout", "restart", "deploy/app")
	must(t, "", "-n", "rotation", "rollout", "status", "deploy/app", "--timeout=3m")
	eventually(t, "the restarted pod's environment", time.Minute, func() string {
		log, err := kubectl("", "-n", "rotation", "logs", "deploy/app")
		if err != nil || !strings.Contains(log, "COLOR=green") {
			return log + " " + errString(err)
		}
		return ""
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
