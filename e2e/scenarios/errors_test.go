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
		{"bad-path", with("authSecretName", "pulumi-creds"), "- fileName: hello\n  secretKey: app.helo\n", "", "NotFound", "?"},
		{"missing-secret", with("authSecretName", "no-such-secret"), item, "", "NotFound", "?"},
		{"missing-environment", with("authSecretName", "pulumi-creds", "environment", "nope"), item, "", "NotFound", "?"},
		{"wrong-token", base, item, "wrong-creds", "Unauthenticated", "?"},
		{"cross-namespace", with("authSecretName", "pulumi-creds", "authSecretNamespace", "other"), item, "", "PermissionDenied", "?"},
		{"bad-class", with("authSecretName", "pulumi-creds"), "- fileName: hello\n  secretKey: app.hello\n  mode: \"0999\"\n", "", "InvalidArgument", "?"},
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
		spc(t, "neg", "down", with("authSecretName", "pulumi-creds"), item, "")
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
		if want := wantPrefix(p, "Unavailable") + "?"; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		// The driver's gRPC client retries UNAVAILABLE: one NodePublishVolume, three Mounts.
		if n := metric(t, "esc_csi_mounts_total", `code="Unavailable"`) - before; n != 3 {
			t.Errorf("%v Mount calls answered Unavailable for one NodePublishVolume, want 3", n)
		}
	})
}
