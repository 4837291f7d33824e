package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"esc-csi.e2e/cluster"
)

// The SecretProviderClass of Pulumi's guide, written for the Go provider, as the repository
// ships it (examples/secretproviderclasses/pulumi-docs.yaml): authSecretName in its own
// namespace and no nodePublishSecretRef, so the driver sends `secrets` as JSON null. Only
// apiUrl is changed, to the local ESC server.
func TestGoProviderExample(t *testing.T) {
	need(t)
	data, err := os.ReadFile(filepath.Join(repo, "examples", "secretproviderclasses", "pulumi-docs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.Objects(data)
	if err != nil || len(objs) != 1 {
		t.Fatalf("pulumi-docs.yaml: %v", err)
	}
	class := objs[0]
	params, _, _ := unstructured.NestedStringMap(class.Object, "spec", "parameters")
	if params["apiUrl"] != "https://api.pulumi.com/api/esc" || params["authSecretName"] == "" {
		t.Fatalf("the example changed: %v", params)
	}
	if err := unstructured.SetNestedField(class.Object, c.ESCURL, "spec", "parameters", "apiUrl"); err != nil {
		t.Fatal(err)
	}
	ns := class.GetNamespace()
	namespace(t, ns, "default")
	env, err := os.ReadFile(filepath.Join(repo, "examples", "environments", params["project"], params["environment"]+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeEnv(t, params["project"], params["environment"], string(env))
	secret(t, ns, params["authSecretName"], map[string]string{"pulumi-access-token": c.ESCToken})
	if err := c.Admin.Apply(ctxFor(t, 30*time.Second), objs, ns, false); err != nil {
		t.Fatal(err)
	}
	p := pod(t, ns, "example", "default", vol{name: "secrets-store-inline", class: class.GetName()})
	publish(t, p, "secrets-store-inline")
	target := kl.TargetPath(p, "secrets-store-inline")
	if fsType(t, target) != tmpfsMagic || !isMountPoint(t, target) {
		t.Errorf("%s is not a tmpfs mount point", target)
	}
	expectFiles(t, target, map[string]file{"hello": {"world", 0o644}})
	expectPodStatus(t, p, class.GetName(), "secrets-store-inline", "hello")
}

// A token from the volume's own nodePublishSecretRef Secret, no authSecretName: esc-csi needs
// no Kubernetes permission for it.
func TestNodePublishSecretRef(t *testing.T) {
	need(t)
	namespace(t, "shop", "web")
	writeEnv(t, "shop", "prod", "values:\n  db:\n    password:\n      fn::secret: hunter2-e2e\n")
	secret(t, "shop", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken + "\n"})
	spc(t, "shop", "shop-secrets", map[string]string{"organization": "shop", "project": "shop", "environment": "prod"},
		"- fileName: db-password\n  secretKey: db.password\n  mode: \"0400\"\n", "")
	p := pod(t, "shop", "web", "web", vol{name: "secrets", class: "shop-secrets", nodePublishSecret: "pulumi-creds"})
	publish(t, p, "secrets")
	expectFiles(t, kl.TargetPath(p, "secrets"), map[string]file{"db-password": {"hunter2-e2e", 0o400}})
	expectPodStatus(t, p, "shop-secrets", "secrets", "db-password")
}

// Workload identity: the kubelet stand-in gets the pod's token for the CSIDriver's
// tokenRequests audience from the TokenRequest API; esc-csi exchanges it at the ESC server,
// which checks it against the API server's issuer and /openid/v1/jwks.
func TestWorkloadIdentity(t *testing.T) {
	need(t)
	namespace(t, "wi", "api")
	writeEnv(t, "payments", "prod", "values:\n  stripe:\n    key:\n      fn::secret: sk_e2e_wi\n")
	before := metric(t, "esc_csi_token_exchanges_total", `result="success"`)
	var pods []*corev1.Pod
	for _, method := range []string{"oidc", ""} {
		name := "wi-" + method
		params := map[string]string{"organization": cluster.Org, "project": "payments", "environment": "prod"}
		if method != "" {
			params["authMethod"] = method
		} else {
			name = "wi-default"
		}
		spc(t, "wi", name, params, "- fileName: stripe-key\n  secretKey: stripe.key\n", "")
		p := pod(t, "wi", "api-"+strings.TrimPrefix(name, "wi-"), "api", vol{name: "secrets", class: name})
		pods = append(pods, p)
		publish(t, p, "secrets")
		expectFiles(t, kl.TargetPath(p, "secrets"), map[string]file{"stripe-key": {"sk_e2e_wi", 0o644}})
		expectPodStatus(t, p, name, "secrets", "stripe-key")
	}
	// One exchange per pod: each pod has its own bound token.
	if got := metric(t, "esc_csi_token_exchanges_total", `result="success"`) - before; got != 2 {
		t.Errorf("%v successful token exchanges, want 2", got)
	}
	// requiresRepublish: after the poll interval the kubelet calls again with a fresh token,
	// which esc-csi exchanges afresh; the files stay as they are.
	last := pods[len(pods)-1]
	waitRotationDue(written(t, kl.TargetPath(last, "secrets")))
	publish(t, last, "secrets")
	expectFiles(t, kl.TargetPath(last, "secrets"), map[string]file{"stripe-key": {"sk_e2e_wi", 0o644}})
	if got := metric(t, "esc_csi_token_exchanges_total", `result="success"`) - before; got != 3 {
		t.Errorf("%v successful token exchanges after a re-publish with a fresh token, want 3", got)
	}
	log, err := os.ReadFile(filepath.Join(c.Dir, "logs", "esc-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "system:serviceaccount:wi:api") {
		t.Errorf("the ESC server logged no exchange for system:serviceaccount:wi:api")
	}
}
