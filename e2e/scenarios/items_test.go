package scenarios

import (
	"testing"
)

const itemsEnv = `values:
  app:
    name: checkout
    port: 8080
    ratio: 2.5
    enabled: true
    nothing: null
    settings:
      replicas: 2
      log_level: debug
      features:
        - search
        - recommendations
    settings_json:
      fn::toJSON: ${app.settings}
    "key with a .": dotted
    'key with "quotes"': quoted
    servers:
      - host: a.internal
        port: 1
      - host: b.internal
        port: 2
    cert: aGVsbG8gZTJl
    blob: 00ff10
    password:
      fn::secret: s3cr3t-e2e
`

const itemsSecrets = `- fileName: name
  secretKey: app.name
- fileName: port
  secretKey: app.port
- fileName: ratio
  secretKey: app.ratio
- fileName: enabled
  secretKey: app.enabled
- fileName: nothing
  secretKey: app.nothing
- fileName: settings
  secretKey: app.settings
- fileName: settings.json
  secretKey: app.settings
  format: json
- fileName: settings.yaml
  secretPath: app
  secretKey: settings
  format: yaml
- fileName: from-json.yaml
  secretKey: app.settings_json
  format: yaml
- fileName: dotted
  secretKey: 'app["key with a ."]'
- fileName: quoted
  secretKey: 'app["key with \"quotes\""]'
- fileName: hosts
  secretKey: app.servers[*].host
- fileName: second-port
  secretPath: app.servers[1]
  secretKey: port
- fileName: cert.bin
  secretKey: app.cert
  encoding: base64
- fileName: blob.bin
  secretKey: app.blob
  encoding: hex
  mode: "0600"
- fileName: db/password
  secretKey: app.password
  mode: "0400"
- fileName: conf/deep/name.txt
  secretPath: app
  secretKey: name
  mode: "440"
`

const settingsYAML = "features:\n- search\n- recommendations\nlog_level: debug\nreplicas: 2\n"

// Every item feature through the real driver: paths (secretPath, nested, quoted, indexes,
// `[*]`), formats, encodings, folders and modes, each file checked byte for byte.
func TestItems(t *testing.T) {
	need(t)
	namespace(t, "items", "app")
	writeEnv(t, "app", "items", itemsEnv)
	secret(t, "items", "pulumi-creds", map[string]string{"pulumi-access-token": c.ESCToken})
	spc(t, "items", "everything", map[string]string{"organization": "shop", "project": "app", "environment": "items"}, itemsSecrets, "")
	p := pod(t, "items", "app", "app", vol{name: "secrets", class: "everything", nodePublishSecret: "pulumi-creds"})
	publish(t, p, "secrets")
	want := map[string]file{
		"name":               {"checkout", 0o644},
		"port":               {"8080", 0o644},
		"ratio":              {"2.5", 0o644},
		"enabled":            {"true", 0o644},
		"nothing":            {"", 0o644},
		"settings":           {`{"features":["search","recommendations"],"log_level":"debug","replicas":2}`, 0o644},
		"settings.json":      {"{\n  \"features\": [\n    \"search\",\n    \"recommendations\"\n  ],\n  \"log_level\": \"debug\",\n  \"replicas\": 2\n}\n", 0o644},
		"settings.yaml":      {settingsYAML, 0o644},
		"from-json.yaml":     {settingsYAML, 0o644},
		"dotted":             {"dotted", 0o644},
		"quoted":             {"quoted", 0o644},
		"hosts":              {`["a.internal","b.internal"]`, 0o644},
		"second-port":        {"2", 0o644},
		"cert.bin":           {"hello e2e", 0o644},
		"blob.bin":           {"\x00\xff\x10", 0o600},
		"db/password":        {"s3cr3t-e2e", 0o400},
		"conf/deep/name.txt": {"checkout", 0o440},
	}
	expectFiles(t, kl.TargetPath(p, "secrets"), want)
	var ids []string
	for name := range want {
		ids = append(ids, name)
	}
	expectPodStatus(t, p, "everything", "secrets", ids...)
}
