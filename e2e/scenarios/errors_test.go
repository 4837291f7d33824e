package scenarios

import (
	"testing"
	"time"
)

// Each failure as the kubelet gets it from the driver for a first mount (and puts in the pod's
// events): the driver's wrapping of esc-csi's gRPC status. docs/troubleshooting.md shows the
// format.
func TestErrors(t *testing.T) {
	need(t)
	namespace(t, "neg", "app")
	namespace(t, "other")
	writeEnv(t, "neg", "app", "values:\n  app:\n    hello: world\n")
	secret(t, "neg", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	secret(t, "neg", "wrong-creds", map[string]string{"pulumi-access-token": "not-the-token"})
	secret(t, "other", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	base := map[string]string{"organization": "shop", "project": "neg", "environment": "app"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	item := "- fileName: hello\n  secretKey: app.hello\n"
	cases := []struct {
		name   string
		params map[string]string
		items  string
		ref    string // nodePublishSecretRef
		code   string
		desc   string
	}{
		{"bad-path", with("authSecretName", "pulumi-creds"), "- fileName: hello\n  secretKey: app.helo\n", "", "NotFound",
			"cannot mount from ESC environment shop/neg/app: secrets[0] (\"hello\"): `app` has no key \"helo\" (did you mean \"hello\"?)"},
		{"missing-secret", with("authSecretName", "no-such-secret"), item, "", "Unauthenticated",
			"Kubernetes Secret neg/no-such-secret does not exist"},
		{"missing-environment", with("authSecretName", "pulumi-creds", "environment", "nope"), item, "", "NotFound",
			"opening ESC environment shop/neg/nope: HTTP 404 Not Found: environment neg/nope not found. Check organization, project and environment (and the version after '@'), and that the token in Kubernetes Secret neg/pulumi-creds (key pulumi-access-token) can see the environment"},
		{"wrong-token", base, item, "wrong-creds", "Unauthenticated",
			"opening ESC environment shop/neg/app: HTTP 401 Unauthorized: Unauthorized: No credentials provided or are invalid. Check the token in the volume's nodePublishSecretRef Secret (key pulumi-access-token): it may be wrong, expired or revoked"},
		{"cross-namespace", with("authSecretName", "pulumi-creds", "authSecretNamespace", "other"), item, "", "PermissionDenied",
			"the SecretProviderClass asks for auth Secret other/pulumi-creds, but the pod runs in namespace neg; esc-csi reads auth Secrets only from the pod's own namespace unless started with --allow-cross-namespace-auth"},
		{"bad-class", with("authSecretName", "pulumi-creds"), "- fileName: hello\n  secretKey: app.hello\n  mode: \"0999\"\n", "", "InvalidArgument",
			"invalid SecretProviderClass \"bad-class\": secrets[0] (\"hello\"): mode \"0999\" is not an octal file mode such as \"0400\" or \"0644\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spc(t, "neg", tc.name, tc.params, tc.items, "")
			p := pod(t, "neg", tc.name, "app", vol{name: "secrets", class: tc.name, nodePublishSecret: tc.ref})
			got := publishErr(t, p, "secrets")
			if want := wantPrefix(p, tc.code) + tc.desc; got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if isMountPoint(t, kl.TargetPath(p, "secrets")) {
				t.Errorf("the driver left a failed mount mounted")
			}
			if _, err := getPodStatus(t, p, tc.name); err == nil {
				t.Errorf("a failed mount has a SecretProviderClassPodStatus")
			}
		})
	}

	t.Run("esc-unreachable", func(t *testing.T) {
		// An environment no mount has read, so that esc-csi's cache cannot answer.
		writeEnv(t, "neg", "down", "values:\n  app:\n    hello: world\n")
		spc(t, "neg", "down", with("authSecretName", "pulumi-creds", "environment", "down"), item, "")
		if err := c.StopESC(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.StartESC(ctxFor(t, time.Minute)); err != nil {
				t.Errorf("restarting the ESC server: %v", err)
			}
		}()
		p := pod(t, "neg", "down", "app", vol{name: "secrets", class: "down"})
		before := metric(t, "esc_csi_mounts_total", `code="Unavailable"`)
		got := publishErr(t, p, "secrets")
		// The driver retries Unavailable itself and says so inside its wrapping.
		want := "rpc error: code = Unavailable desc = failed to mount secrets store objects for pod neg/down, err: " +
			"max retries exhausted: failed after 3 attempts: rpc error: code = Unavailable desc = " +
			"opening ESC environment shop/neg/down: cannot reach the ESC API at " + c.ESCURL + ": Connection refused (os error 111)"
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		// The driver's gRPC client retries UNAVAILABLE: one NodePublishVolume, three Mounts.
		if n := metric(t, "esc_csi_mounts_total", `code="Unavailable"`) - before; n != 3 {
			t.Errorf("%v Mount calls answered Unavailable for one NodePublishVolume, want 3", n)
		}
	})
}
