// Command registrar stands in for kubernetes-csi's node-driver-registrar (v2.16.0, the image
// the driver's chart v1.6.1 names), which the Go module proxy does not serve. It does what the
// real one does in the driver's DaemonSet, with the same flags: asks the CSI driver at
// --csi-address its name (GetPluginInfo), serves the kubelet's plugin registration API
// (k8s.io/kubelet pluginregistration/v1) on /registration/<name>-reg.sock, answers GetInfo with
// --kubelet-registration-path, and exits when the kubelet reports the registration failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type server struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
}

func (s *server) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("kubelet asked for the plugin's info: %s at %s", s.name, s.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.name,
		Endpoint:          s.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (s *server) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !st.PluginRegistered {
		// As the real registrar: a failed registration restarts the container.
		log.Printf("registration failed: %s", st.Error)
		os.Exit(1)
	}
	log.Printf("registered with the kubelet")
	return &registerapi.RegistrationStatusResponse{}, nil
}

func driverName(ctx context.Context, address string) (string, error) {
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for {
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		if err == nil {
			return info.GetName(), nil
		}
		log.Printf("waiting for the CSI driver at %s: %v", address, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "the CSI driver's socket in this container")
	regPath := flag.String("kubelet-registration-path", "", "the CSI driver's socket on the host, for the kubelet")
	pluginDir := flag.String("plugin-registration-path", "/registration", "the kubelet's plugins_registry folder in this container")
	flag.Int("v", 0, "log verbosity (accepted for the real registrar's flag)")
	flag.Parse()
	if *regPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	name, err := driverName(ctx, *csiAddress)
	if err != nil {
		log.Fatalf("asking the CSI driver its name: %v", err)
	}
	sock := filepath.Join(*pluginDir, fmt.Sprintf("%s-reg.sock", name))
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		log.Fatalf("removing the old socket: %v", err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatalf("listening on %s: %v", sock, err)
	}
	g := grpc.NewServer()
	registerapi.RegisterRegistrationServer(g, &server{name: name, endpoint: *regPath})
	go func() {
		<-ctx.Done()
		g.Stop()
		os.Remove(sock)
	}()
	log.Printf("serving the registration of %s on %s", name, sock)
	if err := g.Serve(l); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
