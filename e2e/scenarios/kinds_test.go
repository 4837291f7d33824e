package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"esc-csi.e2e/cluster"
)

// The item kinds of issue 16 through the real driver, one pod each: what the driver writes on
// its tmpfs, byte for byte and mode for mode, and the objects it records for the pod.

// viewsEnv is an app's environment as ESC users write one: variables, a settings object,
// `files`, and a database's connection details, some of them secret.
const viewsEnv = `values:
  environmentVariables:
    APP_NAME: checkout
    PORT: 8080
    DEBUG: false
    RATIO: 2.5
    EMPTY: null
    GREETING: "say \"hi\"\tthen leave"
    MULTI: "line one\nline two"
    API_KEY:
      fn::secret: k-e2e-views-7f3a
  worker:
    queue: orders
    concurrency: 4
    limits:
      memory: 512Mi
      cpu: "0.5"
    tags: [a, b]
  files:
    CA_CERT: |
      -----BEGIN CERTIFICATE-----
      ZTJl
      -----END CERTIFICATE-----
    RETRIES: 3
    TOKEN:
      fn::secret: tok-e2e-views-91c2
  db:
    user: app
    password:
      fn::secret: pw-e2e-views-5d1e
    host: db.internal
    port: 5432
`

// viewsPod sets up namespace ns with the environment, a token Secret and a class of items (and
// extra spec), and publishes one pod's volume; it returns the pod's target.
func viewsPod(t *testing.T, ns, items, extra string) (*corev1.Pod, string) {
	t.Helper()
	namespace(t, ns, "app")
	writeEnv(t, "views", ns, viewsEnv)
	secret(t, ns, "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, ns, "views", map[string]string{"organization": "shop", "project": "views", "environment": ns}, items, extra)
	p := pod(t, ns, "app", "app", vol{name: "secrets", class: "views", nodePublishSecret: "pulumi-creds"})
	publish(t, p, "secrets")
	return p, kl.TargetPath(p, "secrets")
}

func ids[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Single-quoted, so that every dotenv loader and shell reads each value back exactly (a tab
// and a line break written as themselves).
const dotenvWant = "API_KEY='k-e2e-views-7f3a'\n" +
	"APP_NAME='checkout'\n" +
	"DEBUG='false'\n" +
	"EMPTY=''\n" +
	"GREETING='say \"hi\"\tthen leave'\n" +
	"MULTI='line one\nline two'\n" +
	"PORT='8080'\n" +
	"RATIO='2.5'\n"

const shellWant = "export API_KEY='k-e2e-views-7f3a'\n" +
	"export APP_NAME='checkout'\n" +
	"export DEBUG='false'\n" +
	"export EMPTY=''\n" +
	"export GREETING='say \"hi\"\tthen leave'\n" +
	"export MULTI='line one\nline two'\n" +
	"export PORT='8080'\n" +
	"export RATIO='2.5'\n"

// `format: dotenv` and `format: shell` of environmentVariables: one file each, quoted for
// their readers.
func TestDotenvAndShell(t *testing.T) {
	need(t)
	p, target := viewsPod(t, "dotenv",
		"- fileName: .env\n  secretKey: environmentVariables\n  format: dotenv\n  mode: \"0400\"\n"+
			"- fileName: env/app.sh\n  secretKey: environmentVariables\n  format: shell\n", "")
	want := map[string]file{".env": {dotenvWant, 0o400}, "env/app.sh": {shellWant, 0o644}}
	expectFiles(t, target, want)
	expectPodStatus(t, p, "views", "secrets", ids(want)...)
}

// The `files` convention: the environment's files property as a folder, one file per key.
func TestFilesFolder(t *testing.T) {
	need(t)
	p, target := viewsPod(t, "files", "- files: esc-files\n  mode: \"0400\"\n", "")
	want := map[string]file{
		"esc-files/CA_CERT": {"-----BEGIN CERTIFICATE-----\nZTJl\n-----END CERTIFICATE-----\n", 0o400},
		"esc-files/RETRIES": {"3", 0o400},
		"esc-files/TOKEN":   {"tok-e2e-views-91c2", 0o400},
	}
	expectFiles(t, target, want)
	expectPodStatus(t, p, "views", "secrets", ids(want)...)
}

// Templates in ESC's interpolation syntax, under secretPath or from the root, `$$` escaped.
func TestTemplate(t *testing.T) {
	need(t)
	p, target := viewsPod(t, "template",
		"- fileName: database-url\n  secretPath: db\n  mode: \"0400\"\n"+
			"  template: postgres://${user}:${password}@${host}:${port}/orders\n"+
			"- fileName: conf/app.ini\n  template: |\n    [app]\n    name = ${environmentVariables.APP_NAME}\n"+
			"    queue = ${worker.queue}\n    tags = ${worker.tags}\n    home = $${HOME}\n", "")
	want := map[string]file{
		"database-url": {"postgres://app:pw-e2e-views-5d1e@db.internal:5432/orders", 0o400},
		"conf/app.ini": {"[app]\nname = checkout\nqueue = orders\ntags = [\"a\",\"b\"]\nhome = ${HOME}\n", 0o644},
	}
	expectFiles(t, target, want)
	expectPodStatus(t, p, "views", "secrets", ids(want)...)
}

// An object as a nested folder, each file its own object: synced file by file into a
// Kubernetes Secret with secretObjects (objectName is the file's whole path), while the folder
// itself is no object the driver can sync; after one value changes, only that file's version
// moves and the Secret follows.
func TestFolderFromObjectSyncedAndRotated(t *testing.T) {
	need(t)
	items := "- folderName: conf/worker\n  secretKey: worker\n  mode: \"0440\"\n" +
		"- fileName: .env\n  secretKey: environmentVariables\n  format: dotenv\n"
	// The folder's name listed first: the driver reports it and still syncs the next Secret.
	sync := "  secretObjects:\n" +
		"  - secretName: worker-folder\n    type: Opaque\n    data:\n    - objectName: conf/worker\n      key: worker\n" +
		"  - secretName: worker-settings\n    type: Opaque\n    data:\n" +
		"    - {objectName: conf/worker/queue, key: queue}\n" +
		"    - {objectName: conf/worker/concurrency, key: concurrency}\n" +
		"    - {objectName: conf/worker/limits/memory, key: limits.memory}\n" +
		"    - {objectName: conf/worker/limits/cpu, key: limits.cpu}\n" +
		"    - {objectName: conf/worker/tags, key: tags}\n" +
		"    - {objectName: .env, key: .env}\n"
	p, target := viewsPod(t, "folder", items, sync)
	want := map[string]file{
		"conf/worker/queue":         {"orders", 0o440},
		"conf/worker/concurrency":   {"4", 0o440},
		"conf/worker/limits/memory": {"512Mi", 0o440},
		"conf/worker/limits/cpu":    {"0.5", 0o440},
		"conf/worker/tags":          {`["a","b"]`, 0o440},
		".env":                      {dotenvWant, 0o644},
	}
	expectFiles(t, target, want)
	v1 := expectPodStatus(t, p, "views", "secrets", ids(want)...)
	synced := map[string]string{"queue": "orders", "concurrency": "4", "limits.memory": "512Mi",
		"limits.cpu": "0.5", "tags": `["a","b"]`, ".env": dotenvWant}
	expectSynced(t, p, "worker-settings", synced)
	expectEvent(t, p, "FailedToCreateSecret", "file matching objectName conf/worker not found in the pod")
	if _, err := c.Admin.Client.CoreV1().Secrets("folder").Get(ctxFor(t, 30*time.Second), "worker-folder", metav1.GetOptions{}); err == nil {
		t.Errorf("a Secret was synced from the folder's own name; update docs/sync-secrets.md")
	}

	writeEnv(t, "views", "folder", strings.Replace(viewsEnv, "queue: orders", "queue: returns", 1))
	time.Sleep(1500 * time.Millisecond) // past esc-csi's --cache-ttl
	waitRotationDue(written(t, target))
	publish(t, p, "secrets")
	want["conf/worker/queue"] = file{"returns", 0o440}
	expectFiles(t, target, want)
	v2 := expectPodStatus(t, p, "views", "secrets", ids(want)...)
	for id := range want {
		if moved := v2[id] != v1[id]; moved != (id == "conf/worker/queue") {
			t.Errorf("%s: version moved = %v after only conf/worker/queue changed", id, moved)
		}
	}
	synced["queue"] = "returns"
	expectSynced(t, p, "worker-settings", synced)
}

// expectEvent waits for an event of the pod with this reason and a message containing text.
func expectEvent(t *testing.T, p *corev1.Pod, reason, text string) {
	t.Helper()
	err := cluster.Poll(ctxFor(t, 60*time.Second), "a "+reason+" event of "+p.Namespace+"/"+p.Name, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		events, err := c.Admin.Client.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if err != nil {
			return false, err.Error(), nil
		}
		var seen []string
		for _, e := range events.Items {
			if e.Reason == reason && strings.Contains(e.Message, text) {
				return true, "", nil
			}
			seen = append(seen, e.Reason)
		}
		return false, "events: " + strings.Join(seen, ", "), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
