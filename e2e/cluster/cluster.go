// Package cluster starts the peers of the end-to-end suite on loopback and unix sockets in one
// folder: etcd, kube-apiserver (RBAC on, a static token file, a service-account signing key),
// the Secrets Store CSI Driver with its own CRDs, RBAC and CSIDriver, esc-csi's local ESC server
// trusting the API server's service-account issuer, and `esc-csi serve` with its chart's RBAC
// and a token of its own ServiceAccount.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

const (
	// NodeName is the node the driver serves and the pods are bound to.
	NodeName = "e2e-node"
	// DriverName is the CSI driver's name.
	DriverName = "secrets-store.csi.k8s.io"
	// Org is the ESC organization the suite's classes use for workload identity; the CSIDriver
	// requests tokens for its audience.
	Org = "acme"
	// Audience is the tokenRequests audience, esc-csi's default oidcAudience for Org.
	Audience = "urn:pulumi:org:" + Org
	// Issuer is the API server's service-account issuer.
	Issuer = "https://kubernetes.default.svc.cluster.local"
	// DaemonNamespace is where the chart installs esc-csi.
	DaemonNamespace = "kube-system"
	// DaemonServiceAccount is the chart's ServiceAccount.
	DaemonServiceAccount = "esc-csi"
)

// Config names the binaries and inputs.
type Config struct {
	Dir           string // working folder; everything lives under it
	Etcd          string
	KubeAPIServer string
	Driver        string
	EscCSI        string
	DriverDeploy  string // the driver module's deploy/ folder
	ChartRenders  string // charts/esc-csi/tests/golden: `helm template` of every value set
	// RotationPollInterval is the driver's --rotation-poll-interval.
	RotationPollInterval time.Duration
	// DaemonRender is the render whose RBAC objects and flags esc-csi runs with.
	DaemonRender string
	// DaemonFlags override flags of the render's DaemonSet (name without dashes -> value).
	DaemonFlags map[string]string
}

// Cluster is the running set.
type Cluster struct {
	Config
	PKI        *PKI
	URL        string
	AdminToken string
	Admin      *Kube

	ESCURL, ESCToken, EnvDir string
	ProvidersDir             string
	CSISocket                string
	KubeletRoot              string
	JWKSFile                 string
	HealthURL                string

	etcd, apiserver, driver, daemon, esc *Proc
	escAddr                              string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// WriteKubeconfig writes a kubeconfig for url with a bearer token.
func WriteKubeconfig(path, url string, caPEM []byte, token string) error {
	cfg := map[string]interface{}{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "e2e",
		"clusters": []interface{}{map[string]interface{}{"name": "e2e", "cluster": map[string]interface{}{
			"server": url, "certificate-authority-data": caPEM,
		}}},
		"users": []interface{}{map[string]interface{}{"name": "e2e", "user": map[string]interface{}{"token": token}}},
		"contexts": []interface{}{map[string]interface{}{"name": "e2e", "context": map[string]interface{}{
			"cluster": "e2e", "user": "e2e",
		}}},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func httpOK(ctx context.Context, client *http.Client, url, token string) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error(), nil
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp.Status, nil
}

func (c *Cluster) aliveOrFail(p *Proc) error {
	if done, err := p.Exited(); done {
		return fmt.Errorf("%s exited (%v); see %s", p.Name, err, p.Log)
	}
	return nil
}

// Start starts everything; on error, whatever started is stopped.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{Config: cfg}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	for _, d := range []string{"etcd", "kubelet", "providers", "providers-unused", "csi", "envs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	c.ProvidersDir = filepath.Join(cfg.Dir, "providers")
	c.CSISocket = filepath.Join(cfg.Dir, "csi", "csi.sock")
	c.KubeletRoot = filepath.Join(cfg.Dir, "kubelet")
	c.EnvDir = filepath.Join(cfg.Dir, "envs")
	if c.PKI, err = MakePKI(filepath.Join(cfg.Dir, "pki")); err != nil {
		return nil, err
	}
	c.AdminToken = randomHex(24)
	tokens := filepath.Join(cfg.Dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.AdminToken+",e2e-admin,e2e-admin,\"system:masters\"\n"), 0o600); err != nil {
		return nil, err
	}

	// etcd
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if c.etcd, err = StartProc(cfg.Dir, "etcd", cfg.Etcd, []string{
		"--name=e2e", "--data-dir=" + filepath.Join(cfg.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
	}, nil); err != nil {
		return nil, err
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if err := Poll(ctx, "etcd to be healthy", 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if err := c.aliveOrFail(c.etcd); err != nil {
			return false, "", err
		}
		return httpOK(ctx, plain, etcdURL+"/health", "")
	}); err != nil {
		return nil, err
	}

	// kube-apiserver
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if c.apiserver, err = StartProc(cfg.Dir, "kube-apiserver", cfg.KubeAPIServer, []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file=" + c.PKI.CertFile, "--tls-private-key-file=" + c.PKI.KeyFile,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + Issuer,
		"--service-account-key-file=" + c.PKI.SAPubFile,
		"--service-account-signing-key-file=" + c.PKI.SAKeyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		// No kubelet, no Service traffic: the kubernetes Service's endpoints stay unset.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}, nil); err != nil {
		return nil, err
	}
	tlsClient, err := rest.HTTPClientFor(&rest.Config{Host: c.URL, TLSClientConfig: rest.TLSClientConfig{CAData: c.PKI.CAPEM}, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := Poll(ctx, "kube-apiserver to be ready", 180*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if err := c.aliveOrFail(c.apiserver); err != nil {
			return false, "", err
		}
		return httpOK(ctx, tlsClient, c.URL+"/readyz", c.AdminToken)
	}); err != nil {
		return nil, err
	}
	if c.Admin, err = NewKube(c.RestConfig(c.AdminToken)); err != nil {
		return nil, err
	}

	// The driver's own objects, from its module's deploy/ folder, and its CSIDriver with the
	// tokenRequests that workload identity needs (docs/authentication.md).
	for _, f := range []string{
		"secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
		"secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml",
		"rbac-secretproviderclass.yaml",
		"rbac-secretprovidersyncing.yaml",
	} {
		if err := c.Admin.ApplyFile(ctx, filepath.Join(cfg.DriverDeploy, f), "kube-system"); err != nil {
			return nil, err
		}
	}
	csiDriver, err := os.ReadFile(filepath.Join(cfg.DriverDeploy, "csidriver.yaml"))
	if err != nil {
		return nil, err
	}
	objs, err := Objects(csiDriver)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := unstructured.SetNestedSlice(o.Object, []interface{}{
			map[string]interface{}{"audience": Audience, "expirationSeconds": int64(3600)},
		}, "spec", "tokenRequests"); err != nil {
			return nil, err
		}
	}
	if err := c.Admin.Apply(ctx, objs, "", false); err != nil {
		return nil, err
	}
	if err := Poll(ctx, "the driver's CRDs to be served", 60*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		list, err := c.Admin.Client.Discovery().ServerResourcesForGroupVersion("secrets-store.csi.x-k8s.io/v1")
		if err != nil {
			return false, err.Error(), nil
		}
		return len(list.APIResources) >= 2, fmt.Sprintf("%d resources", len(list.APIResources)), nil
	}); err != nil {
		return nil, err
	}

	// The ESC server trusts the API server's issuer, with its keys from /openid/v1/jwks.
	jwks, err := c.Admin.Client.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading /openid/v1/jwks: %w", err)
	}
	discoveryDoc, err := c.Admin.Client.CoreV1().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the OIDC discovery document: %w", err)
	}
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(discoveryDoc, &disc); err != nil || disc.Issuer != Issuer {
		return nil, fmt.Errorf("the API server's issuer is %q (%v), expected %q", disc.Issuer, err, Issuer)
	}
	c.JWKSFile = filepath.Join(cfg.Dir, "pki", "jwks.json")
	if err := os.WriteFile(c.JWKSFile, jwks, 0o644); err != nil {
		return nil, err
	}
	c.ESCToken = randomHex(16)
	escPort, err := freePort()
	if err != nil {
		return nil, err
	}
	c.escAddr = fmt.Sprintf("127.0.0.1:%d", escPort)
	c.ESCURL = "http://" + c.escAddr + "/api/esc"
	if err := c.StartESC(ctx); err != nil {
		return nil, err
	}

	// esc-csi: its chart's RBAC and a token of its ServiceAccount.
	if err := c.ApplyDaemonRBAC(ctx, cfg.DaemonRender); err != nil {
		return nil, err
	}
	if err := c.StartDaemon(ctx); err != nil {
		return nil, err
	}

	// The driver, with a token of its own ServiceAccount.
	if err := c.StartDriver(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// RestConfig is a client config for the API server with a bearer token.
func (c *Cluster) RestConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.PKI.CAPEM},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}
}

// Render reads one chart render (default, auth-secrets-cluster, ...).
func (c *Cluster) Render(name string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(filepath.Join(c.ChartRenders, name+".yaml"))
	if err != nil {
		return nil, err
	}
	return Objects(data)
}

// RenderNames lists the chart renders.
func (c *Cluster) RenderNames() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(c.ChartRenders, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(filepath.Base(m), ".yaml"))
	}
	return names, nil
}

func isRBAC(kind string) bool {
	switch kind {
	case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
		return true
	}
	return false
}

// DaemonRBAC is the ServiceAccount and RBAC objects of a render.
func (c *Cluster) DaemonRBAC(render string) ([]*unstructured.Unstructured, error) {
	objs, err := c.Render(render)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if isRBAC(o.GetKind()) {
			out = append(out, o)
		}
	}
	return out, nil
}

// ApplyDaemonRBAC makes esc-csi's permissions exactly those of render: its RBAC objects are
// applied (after their namespaces), and those of every other render that this one lacks are
// deleted.
func (c *Cluster) ApplyDaemonRBAC(ctx context.Context, render string) error {
	want, err := c.DaemonRBAC(render)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, o := range want {
		keep[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = true
		if ns := o.GetNamespace(); ns != "" {
			if err := c.Admin.EnsureNamespace(ctx, ns); err != nil {
				return err
			}
		}
	}
	names, err := c.RenderNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		others, err := c.DaemonRBAC(name)
		if err != nil {
			return err
		}
		var stale []*unstructured.Unstructured
		for _, o := range others {
			if o.GetKind() != "ServiceAccount" && !keep[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] {
				stale = append(stale, o)
			}
		}
		if err := c.Admin.Delete(ctx, stale, DaemonNamespace); err != nil {
			return err
		}
	}
	return c.Admin.Apply(ctx, want, DaemonNamespace, false)
}

// daemonArgs are the render's DaemonSet args with the suite's overrides.
func (c *Cluster) daemonArgs(healthAddr string) ([]string, error) {
	objs, err := c.Render(c.DaemonRender)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if err != nil || len(containers) == 0 {
			return nil, fmt.Errorf("the %s render's DaemonSet has no containers (%v)", c.DaemonRender, err)
		}
		raw, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]interface{}), "args")
		args = raw
	}
	if len(args) == 0 || args[0] != "serve" {
		return nil, fmt.Errorf("the %s render's DaemonSet does not run `serve`: %q", c.DaemonRender, args)
	}
	overrides := map[string]string{
		"endpoint":     filepath.Join(c.ProvidersDir, "pulumi.sock"),
		"metrics-addr": healthAddr,
		"health-addr":  healthAddr,
	}
	for k, v := range c.DaemonFlags {
		overrides[k] = v
	}
	seen := map[string]bool{}
	for i, a := range args {
		name, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if v, over := overrides[name]; ok && over {
			args[i] = "--" + name + "=" + v
			seen[name] = true
		}
	}
	for k, v := range overrides {
		if !seen[k] {
			args = append(args, "--"+k+"="+v)
		}
	}
	return args, nil
}

// StartDaemon starts `esc-csi serve` with the render's flags and a kubeconfig holding a token
// of the chart's ServiceAccount, and waits until /readyz says its socket answers Version.
func (c *Cluster) StartDaemon(ctx context.Context) error {
	tr, err := c.Admin.Token(ctx, DaemonNamespace, DaemonServiceAccount, nil, 3*3600, nil)
	if err != nil {
		return fmt.Errorf("a token for esc-csi's ServiceAccount: %w", err)
	}
	kubeconfig := filepath.Join(c.Dir, "pki", "esc-csi.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, c.URL, c.PKI.CAPEM, tr.Status.Token); err != nil {
		return err
	}
	return c.startDaemon(ctx, []string{"KUBECONFIG=" + kubeconfig})
}

// StartDaemonWithoutKubernetes starts `esc-csi serve` with no way to reach the API server, as
// the chart runs it without authSecrets (automountServiceAccountToken: false): no in-cluster
// config, no KUBECONFIG, and a HOME without ~/.kube.
func (c *Cluster) StartDaemonWithoutKubernetes(ctx context.Context) error {
	home := filepath.Join(c.Dir, "empty-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	return c.startDaemon(ctx, []string{"KUBECONFIG=", "HOME=" + home, "KUBERNETES_SERVICE_HOST=", "KUBERNETES_SERVICE_PORT="})
}

func (c *Cluster) startDaemon(ctx context.Context, env []string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args, err := c.daemonArgs(addr)
	if err != nil {
		return err
	}
	c.HealthURL = "http://" + addr
	if c.daemon, err = StartProc(c.Dir, "esc-csi-serve", c.EscCSI, args, env); err != nil {
		return err
	}
	client := &http.Client{Timeout: 3 * time.Second}
	return Poll(ctx, "esc-csi serve to be ready", 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if err := c.aliveOrFail(c.daemon); err != nil {
			return false, "", err
		}
		return httpOK(ctx, client, c.HealthURL+"/readyz", "")
	})
}

// DaemonRunning says whether `esc-csi serve` was started and not stopped since.
func (c *Cluster) DaemonRunning() bool { return c.daemon != nil }

// StopDaemon stops `esc-csi serve` with SIGTERM and checks that it exits 0 and removes its socket.
func (c *Cluster) StopDaemon() error {
	if c.daemon == nil {
		return nil
	}
	p := c.daemon
	c.daemon = nil
	if err := p.Stop(30 * time.Second); err != nil {
		return err
	}
	if _, err := p.Exited(); err != nil {
		return fmt.Errorf("esc-csi serve exited with %v after SIGTERM", err)
	}
	if _, err := os.Stat(filepath.Join(c.ProvidersDir, "pulumi.sock")); !os.IsNotExist(err) {
		return fmt.Errorf("esc-csi serve left its socket behind (%v)", err)
	}
	return nil
}

// StartESC starts `esc-csi esc-server` over EnvDir, accepting ESCToken and exchanging tokens of
// the API server's issuer.
func (c *Cluster) StartESC(ctx context.Context) (err error) {
	if c.esc, err = StartProc(c.Dir, "esc-server", c.EscCSI, []string{
		"esc-server", "--environments=" + c.EnvDir, "--listen=" + c.escAddr,
		"--oidc-issuer=" + Issuer, "--oidc-jwks=" + c.JWKSFile,
	}, []string{"ESC_CSI_ESC_SERVER_TOKENS=" + c.ESCToken}); err != nil { // not in ps
		return err
	}
	client := &http.Client{Timeout: 3 * time.Second}
	return Poll(ctx, "esc-server to listen", 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if err := c.aliveOrFail(c.esc); err != nil {
			return false, "", err
		}
		ok, why, err := httpOK(ctx, client, c.ESCURL+"/environments/probe", "")
		// Any HTTP answer (401 without a token) means it listens.
		return ok || strings.HasPrefix(why, "401"), why, err
	})
}

// StopESC stops the ESC server.
func (c *Cluster) StopESC() error {
	if c.esc == nil {
		return nil
	}
	p := c.esc
	c.esc = nil
	return p.Stop(15 * time.Second)
}

// StartDriver starts the Secrets Store CSI Driver with rotation on and waits for its socket.
func (c *Cluster) StartDriver(ctx context.Context) error {
	tr, err := c.Admin.Token(ctx, "kube-system", "secrets-store-csi-driver", nil, 3*3600, nil)
	if err != nil {
		return fmt.Errorf("a token for the driver's ServiceAccount: %w", err)
	}
	kubeconfig := filepath.Join(c.Dir, "pki", "driver.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, c.URL, c.PKI.CAPEM, tr.Status.Token); err != nil {
		return err
	}
	if c.driver, err = StartProc(c.Dir, "secrets-store-csi-driver", c.Driver, []string{
		"--endpoint=unix://" + c.CSISocket,
		"--nodeid=" + NodeName,
		"--provider-volume=" + c.ProvidersDir,
		"--additional-provider-volume-paths=" + filepath.Join(c.Dir, "providers-unused"),
		"--enable-secret-rotation=true",
		"--rotation-poll-interval=" + c.RotationPollInterval.String(),
		"--metrics-addr=0",
		"--v=2",
	}, []string{"KUBECONFIG=" + kubeconfig}); err != nil {
		return err
	}
	return Poll(ctx, "the driver's CSI socket", 60*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if err := c.aliveOrFail(c.driver); err != nil {
			return false, "", err
		}
		_, err := os.Stat(c.CSISocket)
		return err == nil, fmt.Sprint(err), nil
	})
}

// Stop stops everything, newest first.
func (c *Cluster) Stop() {
	for _, p := range []*Proc{c.driver, c.daemon, c.esc, c.apiserver, c.etcd} {
		if p != nil {
			_ = p.Stop(15 * time.Second)
		}
	}
}
