package scenarios

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// examples/kubernetes applied as its README says (only the image is local): the pod's own
// service-account token, handed over by the kubelet for the CSIDriver's audience, is exchanged
// at esc-server, which trusts the cluster's issuer; no token is stored anywhere. The container
// (UID 1000) prints config.json in its log.
func TestTheKubernetesExampleMountsWithTheWorkloadsOwnIdentity(t *testing.T) {
	var manifests []string
	for _, f := range []string{"00-namespace.yaml", "10-secretproviderclass.yaml", "20-deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "kubernetes", f))
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, strings.ReplaceAll(string(b), "image: busybox:1.36", "image: ${APP_IMAGE}"))
	}
	apply(t, strings.Join(manifests, "\n---\n"))
	t.Cleanup(func() { kubectl("", "delete", "namespace", "esc-demo", "--wait=false") })
	readyPod(t, "esc-demo", "app=web", 3*time.Minute)
	// examples/environments/app/dev.yaml's `app`, evaluated (imports, interpolation, secrets).
	settings := map[string]any{"replicas": 2.0, "log_level": "debug", "features": []any{"search", "recommendations"}}
	want := map[string]any{
		"api_key":       "sk_test_51HqLyjWDarjtT1zdp7dc",
		"database_url":  "postgres://checkout:correct-horse-battery-staple@db.internal.example.com:5432/checkout",
		"environment":   "app/dev",
		"name":          "checkout",
		"settings":      settings,
		"settings_json": `{"features":["search","recommendations"],"log_level":"debug","replicas":2}`,
	}
	eventually(t, "config.json in the pod's log", time.Minute, func() string {
		log, err := kubectl("", "-n", "esc-demo", "logs", "deploy/web")
		if err != nil {
			return err.Error()
		}
		var got map[string]any // the first value printed
		if err := json.NewDecoder(strings.NewReader(log)).Decode(&got); err != nil {
			return "log " + log + ": " + err.Error()
		}
		if !reflect.DeepEqual(got, want) {
			return "config.json is " + fmt.Sprint(got)
		}
		return ""
	})
}
