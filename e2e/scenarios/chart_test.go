package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"esc-csi.e2e/cluster"
)

// Stand-ins for the Prometheus Operator's CRDs, which the suite does not vendor: the chart's
// ServiceMonitor, PodMonitor and PrometheusRule are admitted against a schema-less CRD, so only
// their apiVersion, kind and metadata are checked by the API server (promtool checks the rules
// themselves, in .ci/observability).
var monitoringCRDs = schemalessCRD("ServiceMonitor", "servicemonitors") + "---\n" +
	schemalessCRD("PodMonitor", "podmonitors") + "---\n" +
	schemalessCRD("PrometheusRule", "prometheusrules")

// schemalessCRD is a namespaced monitoring.coreos.com/v1 CRD for kind that keeps any fields.
func schemalessCRD(kind, plural string) string {
	singular := strings.ToLower(kind)
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + plural + `.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ` + kind + `, plural: ` + plural + `, singular: ` + singular + `, listKind: ` + kind + `List}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
}

// Every chart render (`helm template` of the default values and of each charts/esc-csi/ci set,
// kept in charts/esc-csi/tests/golden and checked against the chart by .ci/chart) is admitted
// by the real API server in a server-side dry run, with strict field validation.
func TestChartRendersDryRun(t *testing.T) {
	need(t)
	ctx := ctxFor(t, 2*time.Minute)
	crds, err := cluster.Objects([]byte(monitoringCRDs))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Admin.Apply(ctx, crds, "", false); err != nil {
		t.Fatal(err)
	}
	names, err := c.RenderNames()
	if err != nil || len(names) < 4 {
		t.Fatalf("chart renders: %v %v", names, err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			objs, err := c.Render(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if ns := o.GetNamespace(); ns != "" {
					namespace(t, ns)
				}
			}
			err = cluster.Poll(ctx, "the monitoring CRDs to be served", 30*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
				err := c.Admin.Apply(ctx, objs, "kube-system", true)
				if err != nil && strings.Contains(err.Error(), "no matches for kind") {
					return false, err.Error(), nil
				}
				return true, "", err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The dry run does check: a DaemonSet with a field Kubernetes does not know is refused.
	objs, err := c.Render("default")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" {
			o.Object["spec"].(map[string]interface{})["replicas"] = int64(1)
			err := c.Admin.Apply(ctx, []*unstructured.Unstructured{o}, "kube-system", true)
			if err == nil || !strings.Contains(err.Error(), "replicas") {
				t.Errorf("a DaemonSet with spec.replicas was not refused: %v", err)
			}
		}
	}
}
