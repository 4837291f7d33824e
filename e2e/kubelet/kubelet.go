// Package kubelet is a stand-in for the kubelet's CSI volume plugin (pkg/volume/csi in
// k8s.io/kubernetes): for a pod's inline ephemeral CSI volume it makes the calls the kubelet
// makes, with the same arguments, so the real Secrets Store CSI Driver sees what it sees in a
// cluster. It reads the CSIDriver object for podInfoOnMount and tokenRequests, the pod's
// nodePublishSecretRef Secret, and asks the TokenRequest API for the pod's tokens.
package kubelet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// CallTimeout is the kubelet's deadline for one CSI operation (csiTimeout).
const CallTimeout = 2 * time.Minute

// Kubelet makes the CSI calls of one node.
type Kubelet struct {
	Root   string // stands for /var/lib/kubelet
	Client kubernetes.Interface
	conn   *grpc.ClientConn
	node   csi.NodeClient
	ident  csi.IdentityClient
}

// New connects to the driver's CSI socket.
func New(root, socket string, client kubernetes.Interface) (*Kubelet, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &Kubelet{Root: root, Client: client, conn: conn, node: csi.NewNodeClient(conn), ident: csi.NewIdentityClient(conn)}, nil
}

// Close closes the connection.
func (k *Kubelet) Close() error { return k.conn.Close() }

// PluginName asks the driver its name, as the kubelet's plugin registration does.
func (k *Kubelet) PluginName(ctx context.Context) (string, error) {
	resp, err := k.ident.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetName(), nil
}

// VolumeHandle is the handle the kubelet gives an inline ephemeral volume (makeVolumeHandle).
func VolumeHandle(podUID, volume string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(podUID+volume)))
}

// TargetPath is where the kubelet asks for the volume: <root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount.
func (k *Kubelet) TargetPath(pod *corev1.Pod, volume string) string {
	return filepath.Join(k.Root, "pods", string(pod.UID), "volumes", "kubernetes.io~csi", volume, "mount")
}

func csiSource(pod *corev1.Pod, volume string) (*corev1.CSIVolumeSource, error) {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume {
			if v.CSI == nil {
				return nil, fmt.Errorf("volume %s of pod %s/%s is not a CSI volume", volume, pod.Namespace, pod.Name)
			}
			return v.CSI, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s has no volume %s", pod.Namespace, pod.Name, volume)
}

// Request builds the NodePublishVolume request for a pod's volume, as csiMountMgr.SetUpAt
// does: the volume's attributes, the pod info when the CSIDriver has podInfoOnMount, the
// tokens of its tokenRequests, and the nodePublishSecretRef Secret's data. Errors are the
// kubelet's own texts where it has one.
func (k *Kubelet) Request(ctx context.Context, pod *corev1.Pod, volume string) (*csi.NodePublishVolumeRequest, error) {
	src, err := csiSource(pod, volume)
	if err != nil {
		return nil, err
	}
	driver, err := k.Client.StorageV1().CSIDrivers().Get(ctx, src.Driver, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("CSIDriver %s: %w", src.Driver, err)
	}
	if !supportsEphemeral(driver) {
		return nil, fmt.Errorf("CSIDriver %s does not support the Ephemeral lifecycle mode", src.Driver)
	}
	attrs := map[string]string{}
	for key, v := range src.VolumeAttributes {
		attrs[key] = v
	}
	// Always a map, empty without a Secret; on the wire an empty map and none are the same.
	secrets := map[string]string{}
	if ref := src.NodePublishSecretRef; ref != nil {
		s, err := k.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("fetching NodePublishSecretRef %s/%s failed: kubernetes.io/csi: failed to find the secret %s in the namespace %s with error: %v",
				pod.Namespace, ref.Name, ref.Name, pod.Namespace, err)
		}
		for key, v := range s.Data {
			secrets[key] = string(v)
		}
	}
	if driver.Spec.PodInfoOnMount != nil && *driver.Spec.PodInfoOnMount {
		attrs["csi.storage.k8s.io/pod.name"] = pod.Name
		attrs["csi.storage.k8s.io/pod.namespace"] = pod.Namespace
		attrs["csi.storage.k8s.io/pod.uid"] = string(pod.UID)
		attrs["csi.storage.k8s.io/serviceAccount.name"] = pod.Spec.ServiceAccountName
		attrs["csi.storage.k8s.io/ephemeral"] = strconv.FormatBool(true)
	}
	if len(driver.Spec.TokenRequests) > 0 {
		out := map[string]authenticationv1.TokenRequestStatus{}
		for _, tr := range driver.Spec.TokenRequests {
			audiences := []string{tr.Audience}
			if tr.Audience == "" {
				audiences = []string{}
			}
			req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				Audiences:         audiences,
				ExpirationSeconds: tr.ExpirationSeconds,
				BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
			}}
			resp, err := k.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
			if err != nil {
				return nil, fmt.Errorf("kubernetes.io/csi: mounter.SetUpAt failed to get service accoount token attributes: %w", err)
			}
			out[tr.Audience] = resp.Status
		}
		tokens, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		attrs["csi.storage.k8s.io/serviceAccount.tokens"] = string(tokens)
	}
	fsType := ""
	if src.FSType != nil {
		fsType = *src.FSType
	}
	readOnly := src.ReadOnly != nil && *src.ReadOnly
	return &csi.NodePublishVolumeRequest{
		VolumeId:   VolumeHandle(string(pod.UID), volume),
		TargetPath: k.TargetPath(pod, volume),
		Readonly:   readOnly,
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		},
		VolumeContext: attrs,
		Secrets:       secrets,
	}, nil
}

func supportsEphemeral(d *storagev1.CSIDriver) bool {
	for _, m := range d.Spec.VolumeLifecycleModes {
		if m == storagev1.VolumeLifecycleEphemeral {
			return true
		}
	}
	return false
}

// Publish mounts a pod's volume (SetUp): the first time, and again on every re-publish of a
// CSIDriver with requiresRepublish, which is the same call with fresh tokens. The error is the
// driver's gRPC error as the kubelet gets it.
func (k *Kubelet) Publish(ctx context.Context, pod *corev1.Pod, volume string) error {
	req, err := k.Request(ctx, pod, volume)
	if err != nil {
		return err
	}
	return k.PublishRequest(ctx, req)
}

// PublishRequest sends a prepared request, after what the kubelet does first: the node
// capabilities call, the parent folder, vol_data.json.
func (k *Kubelet) PublishRequest(ctx context.Context, req *csi.NodePublishVolumeRequest) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	if _, err := k.node.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{}); err != nil {
		return fmt.Errorf("NodeGetCapabilities: %w", err)
	}
	parent := filepath.Dir(req.TargetPath)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return err
	}
	parts := strings.Split(parent, string(filepath.Separator))
	volData, err := json.Marshal(map[string]string{
		"specVolumeID":        parts[len(parts)-1],
		"volumeHandle":        req.VolumeId,
		"driverName":          "secrets-store.csi.k8s.io",
		"volumeLifecycleMode": "Ephemeral",
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(parent, "vol_data.json"), volData, 0o644); err != nil {
		return err
	}
	_, err = k.node.NodePublishVolume(ctx, req)
	return err
}

// Unpublish unmounts a pod's volume (TearDown) and removes what the kubelet removes.
func (k *Kubelet) Unpublish(ctx context.Context, pod *corev1.Pod, volume string) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	target := k.TargetPath(pod, volume)
	if _, err := k.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{
		VolumeId:   VolumeHandle(string(pod.UID), volume),
		TargetPath: target,
	}); err != nil {
		return err
	}
	parent := filepath.Dir(target)
	if err := os.Remove(filepath.Join(parent, "vol_data.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(parent); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
