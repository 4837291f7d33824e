package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// Objects splits a multi-document YAML (or JSON) stream into objects, skipping empty documents.
func Objects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]interface{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// Kube is an API client with a mapper from kinds to resources.
type Kube struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// NewKube makes the clients for cfg.
func NewKube(cfg *rest.Config) (*Kube, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	return &Kube{Config: cfg, Client: client, Dynamic: dyn, mapper: mapper}, nil
}

func (k *Kube) resource(obj *unstructured.Unstructured, defaultNamespace string) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		k.mapper.Reset()
		mapping, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", gvk, obj.GetName(), err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(defaultNamespace)
		}
		return k.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return k.Dynamic.Resource(mapping.Resource), nil
}

// Apply server-side applies each object (namespace-scoped ones without a namespace go into
// defaultNamespace). With dryRun the API server validates and admits each object in full
// (as `kubectl apply --server-side --dry-run=server` does) and stores nothing.
func (k *Kube) Apply(ctx context.Context, objs []*unstructured.Unstructured, defaultNamespace string, dryRun bool) error {
	for _, obj := range objs {
		res, err := k.resource(obj, defaultNamespace)
		if err != nil {
			return err
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		opts := metav1.PatchOptions{FieldManager: "esc-csi-e2e", Force: ptr.To(true), FieldValidation: "Strict"}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}

// Delete deletes each object, ignoring those already gone.
func (k *Kube) Delete(ctx context.Context, objs []*unstructured.Unstructured, defaultNamespace string) error {
	for _, obj := range objs {
		res, err := k.resource(obj, defaultNamespace)
		if err != nil {
			return err
		}
		if err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// ApplyFile applies every object of a YAML file.
func (k *Kube) ApplyFile(ctx context.Context, path, defaultNamespace string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	objs, err := Objects(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return k.Apply(ctx, objs, defaultNamespace, false)
}

// EnsureNamespace creates a namespace unless it exists.
func (k *Kube) EnsureNamespace(ctx context.Context, name string) error {
	_, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// EnsureServiceAccount creates a ServiceAccount unless it exists. Nothing makes the `default`
// ones here: there is no controller manager.
func (k *Kube) EnsureServiceAccount(ctx context.Context, namespace, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	_, err := k.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Token asks the TokenRequest API for a token of a ServiceAccount, bound to a pod when pod is
// given, as the kubelet does for a CSIDriver's tokenRequests.
func (k *Kube) Token(ctx context.Context, namespace, serviceAccount string, audiences []string, seconds int64, pod *corev1.Pod) (*authenticationv1.TokenRequest, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: ptr.To(seconds),
	}}
	if pod != nil {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		}
	}
	return k.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, tr, metav1.CreateOptions{})
}

// Poll calls cond every interval until it returns true or an error, or timeout passes; the
// error then says what was awaited and the last reason cond gave.
func Poll(ctx context.Context, what string, timeout, interval time.Duration, cond func(ctx context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, why, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
		case <-time.After(interval):
		}
	}
}
