package scenarios

import (
	"strings"
	"testing"
	"time"
)

// esc-csi runs with a token of the chart's ServiceAccount and nothing else, so its reads of
// authSecretName Secrets succeed exactly where the chart's RBAC allows them. The suite starts
// with the auth-secrets-cluster render (a ClusterRole); here the RBAC objects are swapped for
// the auth-secrets-namespaced render (Roles in team-a and team-b for Secrets named
// pulumi-access-token), then for the default render (none), then restored.
func TestLeastPrivilegeRBAC(t *testing.T) {
	need(t)
	defer func() {
		if err := c.ApplyDaemonRBAC(ctxFor(t, time.Minute), "auth-secrets-cluster"); err != nil {
			t.Errorf("restoring the cluster-wide RBAC: %v", err)
		}
	}()
	if err := c.ApplyDaemonRBAC(ctxFor(t, time.Minute), "auth-secrets-namespaced"); err != nil {
		t.Fatal(err)
	}
	namespace(t, "team-a", "app")
	namespace(t, "team-c", "app")
	writeEnv(t, "team", "app", "values:\n  greeting: hi\n")
	item := "- fileName: greeting\n  secretKey: greeting\n"
	params := func(secretName string) map[string]string {
		return map[string]string{"organization": "shop", "project": "team", "environment": "app", "authSecretName": secretName}
	}
	for _, ns := range []string{"team-a", "team-c"} {
		secret(t, ns, "pulumi-access-token", map[string]string{"pulumi-access-token": c.ESCToken})
		secret(t, ns, "other-creds", map[string]string{"pulumi-access-token": c.ESCToken})
		spc(t, ns, "allowed-name", params("pulumi-access-token"), item, "")
		spc(t, ns, "other-name", params("other-creds"), item, "")
		spc(t, ns, "by-ref", map[string]string{"organization": "shop", "project": "team", "environment": "app"}, item, "")
	}

	ok := pod(t, "team-a", "allowed", "app", vol{name: "secrets", class: "allowed-name"})
	publish(t, ok, "secrets")
	expectFiles(t, kl.TargetPath(ok, "secrets"), map[string]file{"greeting": {"hi", 0o644}})

	for _, tc := range []struct{ ns, class, desc string }{
		{"team-a", "other-name", "esc-csi may not read Kubernetes Secret team-a/other-creds: secrets \"other-creds\" is forbidden: User \"system:serviceaccount:kube-system:esc-csi\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team-a\". Grant its service account `get` on Secrets in that namespace, or use nodePublishSecretRef"},
		{"team-c", "allowed-name", "esc-csi may not read Kubernetes Secret team-c/pulumi-access-token: secrets \"pulumi-access-token\" is forbidden: User \"system:serviceaccount:kube-system:esc-csi\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team-c\". Grant its service account `get` on Secrets in that namespace, or use nodePublishSecretRef"},
	} {
		p := pod(t, tc.ns, "denied-"+tc.class, "app", vol{name: "secrets", class: tc.class})
		if got, want := publishErr(t, p, "secrets"), wantPrefix(p, "PermissionDenied")+tc.desc; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}

	// The default render: no RBAC at all. Wait out --auth-secret-cache-ttl (10s), which keeps
	// the Secret read above.
	if err := c.ApplyDaemonRBAC(ctxFor(t, time.Minute), "default"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(11 * time.Second)
	p := pod(t, "team-a", "none", "app", vol{name: "secrets", class: "allowed-name"})
	if got, want := publishErr(t, p, "secrets"), wantPrefix(p, "PermissionDenied")+"esc-csi may not read Kubernetes Secret team-a/pulumi-access-token: secrets \"pulumi-access-token\" is forbidden: User \"system:serviceaccount:kube-system:esc-csi\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team-a\". Grant its service account `get` on Secrets in that namespace, or use nodePublishSecretRef"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// nodePublishSecretRef needs no permission.
	secret(t, "team-a", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	r := pod(t, "team-a", "by-ref", "app", vol{name: "secrets", class: "by-ref", nodePublishSecret: "pulumi-creds"})
	publish(t, r, "secrets")
	expectFiles(t, kl.TargetPath(r, "secrets"), map[string]file{"greeting": {"hi", 0o644}})

	// As the default render really runs it: no token at all.
	if err := c.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.StopDaemon(); err != nil {
			t.Error(err)
		}
		if err := c.StartDaemon(ctxFor(t, time.Minute)); err != nil {
			t.Errorf("restarting esc-csi with its token: %v", err)
		}
	}()
	if err := c.StartDaemonWithoutKubernetes(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	q := pod(t, "team-a", "no-kube", "app", vol{name: "secrets", class: "allowed-name"})
	// The reason in parentheses is kube-rs's own account of where it looked.
	got := publishErr(t, q, "secrets")
	prefix := wantPrefix(q, "FailedPrecondition") + "esc-csi has no access to the Kubernetes API (failed to infer config: "
	if suffix := "), so it cannot read authSecretName"; !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, suffix) {
		t.Errorf("got  %s\nwant %s...%s", got, prefix, suffix)
	}
	r2 := pod(t, "team-a", "by-ref-no-kube", "app", vol{name: "secrets", class: "by-ref", nodePublishSecret: "pulumi-creds"})
	publish(t, r2, "secrets")
	expectFiles(t, kl.TargetPath(r2, "secrets"), map[string]file{"greeting": {"hi", 0o644}})
}
