package scenarios

import (
	"strings"
	"testing"
	"time"
)

// Every item kind in one class, read by the processes that read them: busybox's shell sources
// env.sh and gets every variable back exactly (quotes, backslashes, a line break, a tab, `$`,
// `$(...)` and backquotes, non-ASCII, surrounding spaces, a number, a boolean, a secret) and
// runs nothing a value holds; cat reads the dotenv file, a folder's files, a `files` file and a
// template.
func TestEveryItemKindIsReadBackByTheContainersOwnProcesses(t *testing.T) {
	writeEnv(t, "node", "kinds", `values:
  db:
    user: app
    password:
      fn::secret: "p@ss w0rd$"
  settings:
    log_level: debug
    limits:
      memory: 512Mi
  environmentVariables:
    SIMPLE: plain
    QUOTES: "say \"hi\", it's"
    BACKSLASH: 'C:\dir\'
    UNICODE: "héllo ✓"
    SPACES: "  both ends  "
    NUMBER: 42
    BOOL: true
    SECRET: ${db.password}
    NEWLINE: "line one\nline two"
    TAB: "a\tb"
    DOLLARS: "cost $5 and $HOME"
    COMMAND: "abc`+"`touch /tmp/esc-csi-canary`"+`def$(touch /tmp/esc-csi-canary)"
  files:
    CA_CERT: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
`)
	namespace(t, "kinds")
	must(t, "", "-n", "kinds", "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	apply(t, `
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: kinds, namespace: kinds}
spec:
  provider: pulumi
  parameters:
    organization: acme
    project: node
    environment: kinds
    authSecretName: esc-token
    secrets: |
      - fileName: env.sh
        secretKey: environmentVariables
        format: shell
      - fileName: .env
        secretKey: environmentVariables
        format: dotenv
      - folderName: settings
        secretKey: settings
      - files: files
        mode: "0400"
      - fileName: db-url
        template: postgres://${db.user}:${db.password}@db/app
---
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: kinds, labels: {app: reader}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: reader
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      volumeMounts: [{name: esc, mountPath: /mnt/esc, readOnly: true}]
  volumes:
    - name: esc
      csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: kinds}}
`)
	pod := readyPod(t, "kinds", "app=reader", 3*time.Minute)
	want := map[string]string{
		"SIMPLE": "plain", "QUOTES": `say "hi", it's`, "BACKSLASH": `C:\dir\`, "UNICODE": "héllo ✓",
		"SPACES": "  both ends  ", "NUMBER": "42", "BOOL": "true", "SECRET": "p@ss w0rd$",
		"NEWLINE": "line one\nline two", "TAB": "a\tb", "DOLLARS": "cost $5 and $HOME",
		"COMMAND": "abc`touch /tmp/esc-csi-canary`def$(touch /tmp/esc-csi-canary)",
	}
	// Each variable printed between markers, so that every byte of its value shows.
	script := "set -e; . /mnt/esc/env.sh; for v in"
	for k := range want {
		script += " " + k
	}
	script += `; do eval "printf '<%s=%s>' \"\$v\" \"\${$v}\""; done`
	out := inPod(t, "kinds", pod, script)
	if got := inPod(t, "kinds", pod, "if [ -e /tmp/esc-csi-canary ]; then echo ran; else echo clean; fi"); strings.TrimSpace(got) != "clean" {
		t.Errorf("sourcing env.sh ran a command held in a value")
	}
	for k, v := range want {
		if !strings.Contains(out, "<"+k+"="+v+">") {
			t.Errorf("after sourcing env.sh, %s is not %q: %s", k, v, out)
		}
	}
	if got := inPod(t, "kinds", pod, "grep '^SIMPLE=' /mnt/esc/.env"); strings.TrimSpace(got) != `SIMPLE='plain'` {
		t.Errorf(".env has %q for SIMPLE", got)
	}
	for file, want := range map[string]string{
		"settings/log_level":     "debug",
		"settings/limits/memory": "512Mi",
		"files/CA_CERT":          "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"db-url":                 "postgres://app:p@ss w0rd$@db/app",
	} {
		if got := inPod(t, "kinds", pod, "cat /mnt/esc/"+file); got != want {
			t.Errorf("%s is %q, want %q", file, got, want)
		}
	}
	if got := strings.TrimSpace(inPod(t, "kinds", pod, "stat -L -c %a /mnt/esc/files/CA_CERT")); got != "400" {
		t.Errorf("files/CA_CERT has mode %s, want 400", got)
	}
}
