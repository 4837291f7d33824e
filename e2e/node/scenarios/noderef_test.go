package scenarios

import (
	"testing"
	"time"
)

// The token in the volume's own nodePublishSecretRef Secret (labelled as the driver requires),
// with no auth Secret read by esc-csi: the container reads the value.
func TestAVolumesNodePublishSecretRefAuthenticatesTheMount(t *testing.T) {
	namespace(t, "noderef")
	must(t, "", "-n", "noderef", "create", "secret", "generic", "esc-creds", "--from-literal=pulumi-access-token="+escToken+"\n")
	must(t, "", "-n", "noderef", "label", "secret", "esc-creds", "secrets-store.csi.k8s.io/used=true")
	apply(t, guideClass("guide", "noderef", "", "app.hello")+`---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: noderef, labels: {app: noderef}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: esc
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes: {secretProviderClass: guide}
        nodePublishSecretRef: {name: esc-creds}
`)
	pod := readyPod(t, "noderef", "app=noderef", 3*time.Minute)
	if got := inPod(t, "noderef", pod, "cat /mnt/esc/hello"); got != "world" {
		t.Fatalf("hello is %q, want world", got)
	}
}
