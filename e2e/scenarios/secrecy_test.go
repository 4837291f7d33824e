package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The suite's secret values, and the tokens, appear in no log line of esc-csi or its ESC
// server after every scenario ran (this file's test runs last). JWTs (service-account
// tokens) all start with "eyJ", the base64 of `{"`.
func TestNoSecretInLogs(t *testing.T) {
	need(t)
	secrets := []string{
		c.ESCToken, c.AdminToken, "eyJ",
		"hunter2-e2e", "sk_e2e_wi", "s3cr3t-e2e", "pw-one", "pw-two", "not-the-token",
		"k-e2e-views-7f3a", "tok-e2e-views-91c2", "pw-e2e-views-5d1e",
	}
	for _, name := range []string{"esc-csi-serve.log", "esc-server.log"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, "logs", name))
		if err != nil {
			t.Fatal(err)
		}
		log := string(data)
		if n := strings.Count(log, "\n"); n < 2 {
			t.Errorf("%s has only %d lines; is it the right file?", name, n)
		}
		for i, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("%s contains secret #%d", name, i)
			}
		}
	}
}
