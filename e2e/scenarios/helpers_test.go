package scenarios

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"esc-csi.e2e/cluster"
)

var (
	spcGVR   = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}
	spcpsGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasspodstatuses"}
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// writeEnv writes the ESC environment definition <project>/<name> (read on every request).
func writeEnv(t *testing.T, project, name, definition string) {
	t.Helper()
	dir := filepath.Join(c.EnvDir, project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(definition), 0o644); err != nil {
		t.Fatal(err)
	}
}

// namespace creates a namespace with the ServiceAccount the pods use.
func namespace(t *testing.T, name string, serviceAccounts ...string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	if err := c.Admin.EnsureNamespace(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, sa := range serviceAccounts {
		if err := c.Admin.EnsureServiceAccount(ctx, name, sa); err != nil {
			t.Fatal(err)
		}
	}
}

// secret creates or replaces a Secret.
func secret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	_, err := c.Admin.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Admin.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// applySPC creates or replaces a SecretProviderClass from its YAML.
func applySPC(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	objs, err := cluster.Objects([]byte(manifest))
	if err != nil || len(objs) != 1 {
		t.Fatalf("the SecretProviderClass manifest: %v (%d objects)", err, len(objs))
	}
	if err := c.Admin.Apply(ctxFor(t, 30*time.Second), objs, "default", false); err != nil {
		t.Fatal(err)
	}
	return objs[0]
}

// spc writes a SecretProviderClass for esc-csi with the given parameters; secrets is the
// `secrets` parameter's YAML.
func spc(t *testing.T, ns, name string, params map[string]string, secrets string, extra string) {
	t.Helper()
	p := map[string]string{"apiUrl": c.ESCURL}
	for k, v := range params {
		p[k] = v
	}
	p["secrets"] = secrets
	pj, err := yaml.Marshal(map[string]interface{}{"parameters": p})
	if err != nil {
		t.Fatal(err)
	}
	spec := "  provider: pulumi\n" + indent(string(pj), "  ") + extra
	applySPC(t, fmt.Sprintf("apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n%s", name, ns, spec))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// vol is one inline CSI volume of a pod.
type vol struct {
	name, class, nodePublishSecret string
}

// pod creates a pod bound to the driver's node with inline secrets-store volumes. Nothing runs
// it: the kubelet stand-in makes its volume calls.
func pod(t *testing.T, ns, name, serviceAccount string, vols ...vol) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:                     cluster.NodeName,
			ServiceAccountName:           serviceAccount,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	for _, v := range vols {
		src := &corev1.CSIVolumeSource{
			Driver:           cluster.DriverName,
			ReadOnly:         ptr.To(true),
			VolumeAttributes: map[string]string{"secretProviderClass": v.class},
		}
		if v.nodePublishSecret != "" {
			src.NodePublishSecretRef = &corev1.LocalObjectReference{Name: v.nodePublishSecret}
		}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v.name, VolumeSource: corev1.VolumeSource{CSI: src}})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: v.name, MountPath: "/mnt/" + v.name, ReadOnly: true})
	}
	created, err := c.Admin.Client.CoreV1().Pods(ns).Create(ctxFor(t, 30*time.Second), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// publish makes the kubelet's NodePublishVolume call for a volume and fails the test on error.
func publish(t *testing.T, p *corev1.Pod, volume string) {
	t.Helper()
	if err := kl.Publish(ctxFor(t, 3*time.Minute), p, volume); err != nil {
		t.Fatalf("NodePublishVolume of %s/%s volume %s: %v", p.Namespace, p.Name, volume, err)
	}
}

// publishErr makes the call and returns its error text, failing the test if it succeeded.
func publishErr(t *testing.T, p *corev1.Pod, volume string) string {
	t.Helper()
	err := kl.Publish(ctxFor(t, 3*time.Minute), p, volume)
	if err == nil {
		t.Fatalf("NodePublishVolume of %s/%s volume %s succeeded; it should fail", p.Namespace, p.Name, volume)
	}
	return err.Error()
}

// file is what a pod sees at one path of its volume.
type file struct {
	Content string
	Mode    os.FileMode
}

func (f file) String() string { return fmt.Sprintf("%04o %q", f.Mode, f.Content) }

// readVolume reads every file a pod would see in the volume, following the driver's
// symlinks, keyed by relative path; the driver's own `..` entries are left out.
func readVolume(t *testing.T, target string) map[string]file {
	t.Helper()
	out := map[string]file{}
	var walk func(rel string)
	walk = func(rel string) {
		entries, err := os.ReadDir(filepath.Join(target, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if rel == "" && strings.HasPrefix(e.Name(), "..") {
				continue
			}
			p := filepath.Join(rel, e.Name())
			info, err := os.Stat(filepath.Join(target, p))
			if err != nil {
				t.Fatal(err)
			}
			if info.IsDir() {
				walk(p)
				continue
			}
			data, err := os.ReadFile(filepath.Join(target, p))
			if err != nil {
				t.Fatal(err)
			}
			out[p] = file{Content: string(data), Mode: info.Mode().Perm()}
		}
	}
	walk("")
	return out
}

// expectFiles checks the volume holds exactly these files. Values are never printed unless
// they differ, and the suite's values are made up.
func expectFiles(t *testing.T, target string, want map[string]file) {
	t.Helper()
	got := readVolume(t, target)
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: missing from the volume (has %s)", name, keys(got))
			continue
		}
		if g != w {
			t.Errorf("%s: got %s, want %s", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in the volume but not expected", name)
		}
	}
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// isMountPoint says whether path is a mount point, from /proc/self/mountinfo.
func isMountPoint(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && fields[4] == path {
			return true
		}
	}
	return false
}

// fsType is the file system at path.
func fsType(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Type)
}

const tmpfsMagic = 0x01021994

// podStatus is the SecretProviderClassPodStatus the driver keeps for a pod's volume.
type podStatus struct {
	Mounted    bool
	TargetPath string
	Class      string
	Pod        string
	Node       string
	Objects    map[string]string // id -> version
}

func getPodStatus(t *testing.T, p *corev1.Pod, class string) (*podStatus, error) {
	t.Helper()
	name := p.Name + "-" + p.Namespace + "-" + class
	obj, err := c.Admin.Dynamic.Resource(spcpsGVR).Namespace(p.Namespace).Get(ctxFor(t, 30*time.Second), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	st := &podStatus{Objects: map[string]string{}}
	st.Mounted, _, _ = unstructured.NestedBool(obj.Object, "status", "mounted")
	st.TargetPath, _, _ = unstructured.NestedString(obj.Object, "status", "targetPath")
	st.Class, _, _ = unstructured.NestedString(obj.Object, "status", "secretProviderClassName")
	st.Pod, _, _ = unstructured.NestedString(obj.Object, "status", "podName")
	st.Node = obj.GetLabels()["internal.secrets-store.csi.k8s.io/node-name"]
	objs, _, _ := unstructured.NestedSlice(obj.Object, "status", "objects")
	for _, o := range objs {
		m := o.(map[string]interface{})
		id, _ := m["id"].(string)
		v, _ := m["version"].(string)
		if _, dup := st.Objects[id]; dup {
			t.Errorf("object id %q is twice in the SecretProviderClassPodStatus", id)
		}
		st.Objects[id] = v
	}
	return st, nil
}

// expectPodStatus checks the driver's record of a mount: mounted, for this pod, class, node and
// target, with exactly these object ids, each with a 32-hex-digit version; it returns them.
func expectPodStatus(t *testing.T, p *corev1.Pod, class, volume string, ids ...string) map[string]string {
	t.Helper()
	st, err := getPodStatus(t, p, class)
	if err != nil {
		t.Fatalf("the SecretProviderClassPodStatus of %s/%s: %v", p.Namespace, p.Name, err)
	}
	if !st.Mounted || st.Pod != p.Name || st.Class != class || st.Node != "e2e-node" || st.TargetPath != kl.TargetPath(p, volume) {
		t.Errorf("SecretProviderClassPodStatus: mounted=%v pod=%q class=%q node=%q target=%q", st.Mounted, st.Pod, st.Class, st.Node, st.TargetPath)
	}
	if got, want := keys(st.Objects), strings.Join(sortedCopy(ids), ", "); got != want {
		t.Errorf("SecretProviderClassPodStatus objects: got ids [%s], want [%s]", got, want)
	}
	for id, v := range st.Objects {
		if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
			t.Errorf("object %s: version %q is not 32 hex digits", id, v)
		}
	}
	return st.Objects
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// metric reads one sample of esc-csi's metrics (the sum of the series whose labels include
// every given label).
func metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t, 10*time.Second), http.MethodGet, c.HealthURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// mounts is the number of Mount calls esc-csi has answered.
func mounts(t *testing.T) float64 { return metric(t, "esc_csi_mounts_total") }

// waitRotationDue waits until a re-publish of a volume last written at since is due.
func waitRotationDue(since time.Time) {
	if d := time.Until(since.Add(RotationPoll + 500*time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
}

// wantPrefix is what the kubelet gets from the driver when a first mount fails: the driver
// wraps esc-csi's status in an error of its own, and gRPC gives that error the code of the
// status it wraps, so the code appears twice.
func wantPrefix(p *corev1.Pod, code string) string {
	return fmt.Sprintf("rpc error: code = %s desc = failed to mount secrets store objects for pod %s/%s, err: rpc error: code = %s desc = ", code, p.Namespace, p.Name, code)
}
