package scenarios

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Measured and printed, never asserted: pod start to Ready with an esc-csi volume and with a
// plain Secret volume (median of 10 each), the kubelet's re-publish cadence under driver v1.6
// with the Mount and ESC calls it causes per pod and minute, and the daemon's RSS afterwards.
func TestMeasuredStartReadyRepublishCadenceAndDaemonMemory(t *testing.T) {
	if os.Getenv("NODE_E2E_MEASURE") == "" {
		t.Skip("NODE_E2E_MEASURE is not set")
	}
	namespace(t, "measure")
	must(t, "", "-n", "measure", "create", "secret", "generic", "esc-token", "--from-literal=pulumi-access-token="+escToken)
	must(t, "", "-n", "measure", "create", "secret", "generic", "plain", "--from-literal=hello=world")
	apply(t, guideClass("guide", "measure", "esc-token", "app.hello"))
	volumes := map[string]string{
		"esc-csi": "csi: {driver: secrets-store.csi.k8s.io, readOnly: true, volumeAttributes: {secretProviderClass: guide}}",
		"secret":  "secret: {secretName: plain}",
	}
	times := map[string][]time.Duration{}
	for i := 0; i < 10; i++ {
		for _, kind := range []string{"esc-csi", "secret"} {
			name := fmt.Sprintf("%s-%d", kind, i)
			start := time.Now()
			apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: measure, labels: {run: %s}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sleep", "100000"]
      readinessProbe: {exec: {command: ["cat", "/mnt/v/hello"]}, periodSeconds: 1}
      volumeMounts: [{name: v, mountPath: /mnt/v, readOnly: true}]
  volumes:
    - name: v
      %s
`, name, name, volumes[kind]))
			readyPod(t, "measure", "run="+name, 3*time.Minute)
			times[kind] = append(times[kind], time.Since(start))
		}
	}
	for _, kind := range []string{"esc-csi", "secret"} {
		d := times[kind]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		t.Logf("measured: pod start to Ready with a %s volume: median %s (min %s, max %s, n=%d)",
			kind, ((d[4] + d[5]) / 2).Round(time.Millisecond), d[0].Round(time.Millisecond), d[9].Round(time.Millisecond), len(d))
	}

	// Ten esc-csi pods keep running: count the Mount and ESC calls their re-publishes cause.
	metricsURL := "http://" + strings.TrimSpace(must(t, "", "-n", "kube-system", "get", "pod", "-l", "app.kubernetes.io/name=esc-csi",
		"-o", "jsonpath={.items[0].status.podIP}")) + ":8095/metrics"
	window := 3 * time.Minute
	m0, e0 := scrape(t, metricsURL)
	time.Sleep(window)
	m1, e1 := scrape(t, metricsURL)
	perPodMinute := func(n float64) float64 { return n / 10 / window.Minutes() }
	t.Logf("measured: re-publishes reaching esc-csi: %.2f Mount calls per pod per minute, %.2f ESC calls per pod per minute (10 pods, %s, cache TTL 30s, rotation poll %s)",
		perPodMinute(m1-m0), perPodMinute(e1-e0), window, os.Getenv("NODE_ROTATION_POLL_INTERVAL"))
	for _, pid := range daemonPIDs(t) {
		t.Logf("measured: esc-csi daemon RSS %s", statusField(t, pid, "VmRSS"))
	}
}

// scrape sums esc_csi_mounts_total and esc_csi_esc_requests_total.
func scrape(t *testing.T, url string) (mounts, esc float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "esc_csi_mounts_total"):
			mounts += v
		case strings.HasPrefix(f[0], "esc_csi_esc_requests_total"):
			esc += v
		}
	}
	return mounts, esc
}
