// Package scenarios runs esc-csi behind the real Secrets Store CSI Driver, a real
// kube-apiserver and etcd, and a kubelet stand-in (see ../cluster and ../kubelet). .ci/e2e
// builds the peers and sets the E2E_* variables; without them every test is skipped, unless
// E2E_REQUIRE=1, when that is a failure.
package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esc-csi.e2e/cluster"
	"esc-csi.e2e/kubelet"
)

// RotationPoll is the driver's --rotation-poll-interval: a re-publish sooner than this after
// the last write of the volume is skipped by the driver without calling esc-csi.
const RotationPoll = 8 * time.Second

var (
	c    *cluster.Cluster
	kl   *kubelet.Kubelet
	repo string
	// skipWhy is set when the suite cannot run here.
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	vars := map[string]string{}
	var missing []string
	for _, name := range []string{"E2E_DIR", "E2E_ETCD", "E2E_KUBE_APISERVER", "E2E_DRIVER", "E2E_DRIVER_DEPLOY", "E2E_ESC_CSI", "E2E_REPO"} {
		vars[name] = os.Getenv(name)
		if vars[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		skipWhy = "the end-to-end suite runs from .ci/e2e, which sets " + strings.Join(missing, ", ")
		if os.Getenv("E2E_REQUIRE") == "1" {
			fmt.Fprintln(os.Stderr, "E2E_REQUIRE=1 but "+skipWhy)
			return 1
		}
		return m.Run()
	}
	repo = vars["E2E_REPO"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	started := time.Now()
	var err error
	c, err = cluster.Start(ctx, cluster.Config{
		Dir:                  vars["E2E_DIR"],
		Etcd:                 vars["E2E_ETCD"],
		KubeAPIServer:        vars["E2E_KUBE_APISERVER"],
		Driver:               vars["E2E_DRIVER"],
		EscCSI:               vars["E2E_ESC_CSI"],
		DriverDeploy:         vars["E2E_DRIVER_DEPLOY"],
		ChartRenders:         filepath.Join(repo, "charts", "esc-csi", "tests", "golden"),
		RotationPollInterval: RotationPoll,
		DaemonRender:         "auth-secrets-cluster",
		// The chart's args.cacheTtl, shortened so that rotation shows within one poll.
		DaemonFlags: map[string]string{"cache-ttl": "1s"},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the cluster: %v\nlogs are in %s/logs\n", err, vars["E2E_DIR"])
		return 1
	}
	fmt.Printf("cluster up in %s: kube-apiserver %s, driver on %s, esc-csi on %s/pulumi.sock, ESC at %s\n",
		time.Since(started).Round(time.Millisecond), c.URL, c.CSISocket, c.ProvidersDir, c.ESCURL)
	kl, err = kubelet.New(c.KubeletRoot, c.CSISocket, c.Admin.Client)
	if err != nil {
		c.Stop()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	kl.Close()
	c.Stop()
	return code
}

// need skips a test when the suite cannot run here.
func need(t *testing.T) {
	t.Helper()
	if c == nil {
		t.Skip(skipWhy)
	}
}
