package scenarios

import (
	"strings"
	"testing"
	"time"
)

// The Pulumi guide's SecretProviderClass (examples/secretproviderclasses/pulumi-docs.yaml) with
// its token Secret and the driver docs' busybox Deployment, unchanged but for names, apiUrl and
// the image: the container reads the value, as root's read-only file of mode 0644 on a tmpfs.
func TestThePulumiGuidesClassMountsIntoARunningContainer(t *testing.T) {
	namespace(t, "guide")
	must(t, "", "-n", "guide", "create", "secret", "generic", "pulumi-secret-provider-auth-credentials",
		"--from-literal=pulumi-access-token="+escToken)
	apply(t, pulumiGuideClass("guide", "guide")+"---\n"+pulumiGuideDeployment("guide"))
	pod := readyPod(t, "guide", "app=busybox", 3*time.Minute)
	if got := inPod(t, "guide", pod, "cat /mnt/secrets-store/hello"); got != "world" {
		t.Fatalf("hello is %q, want %q", got, "world")
	}
	if got := inPod(t, "guide", pod, "stat -L -c '%a %u:%g' /mnt/secrets-store/hello"); strings.TrimSpace(got) != "644 0:0" {
		t.Errorf("hello's mode and owner are %q, want 644 0:0", got)
	}
	mount := inPod(t, "guide", pod, "grep ' /mnt/secrets-store ' /proc/mounts")
	if f := strings.Fields(mount); len(f) < 4 || f[2] != "tmpfs" || !strings.HasPrefix(f[3], "ro,") {
		t.Errorf("the volume is mounted as %q, want a read-only tmpfs", mount)
	}
	if out, err := kubectl("", "-n", "guide", "exec", pod, "--", "sh", "-c", "echo x > /mnt/secrets-store/hello"); err == nil {
		t.Errorf("writing to the volume succeeded: %s", out)
	}
}
