// Command driver-v1.5-client calls a provider the way secrets-store-csi-driver v1.4 and v1.5
// do: grpc-go v1.56.3 dialling the socket's path with a context dialer, which makes the path
// the HTTP/2 :authority (kubernetes-sigs/secrets-store-csi-driver#1862), over the driver's own
// generated v1alpha1 client. It prints one JSON line per call for esc-csi's tests to check.
//
// Usage: driver-v1.5-client SOCKET < REQUEST, where REQUEST is a JSON object with the
// MountRequest's string fields: {"attributes": ..., "secrets": ..., "targetPath": ...,
// "permission": ...}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

type result struct {
	Call    string            `json:"call"`
	Code    string            `json:"code"`
	Message string            `json:"message,omitempty"`
	Version string            `json:"version,omitempty"`
	Runtime string            `json:"runtime,omitempty"`
	Files   []file            `json:"files,omitempty"`
	Objects map[string]string `json:"objects,omitempty"`
}

type file struct {
	Path     string `json:"path"`
	Mode     int32  `json:"mode"`
	Contents string `json:"contents"`
}

type request struct {
	Attributes string `json:"attributes"`
	Secrets    string `json:"secrets"`
	TargetPath string `json:"targetPath"`
	Permission string `json:"permission"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: driver-v1.5-client SOCKET")
		os.Exit(2)
	}
	socket := os.Args[1]
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "reading the request from stdin:", err)
		os.Exit(2)
	}
	conn, err := grpc.Dial(socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, target string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", target)
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	// Several calls on one connection, so later requests use HPACK's dynamic table.
	for i := 0; i < 3; i++ {
		resp, err := client.Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"})
		r := result{Call: "Version", Code: status.Code(err).String(), Message: status.Convert(err).Message()}
		if resp != nil {
			r.Version, r.Runtime = resp.Version, resp.RuntimeName
		}
		_ = out.Encode(r)
	}
	resp, err := client.Mount(ctx, &v1alpha1.MountRequest{
		Attributes: req.Attributes,
		Secrets:    req.Secrets,
		TargetPath: req.TargetPath,
		Permission: req.Permission,
	})
	r := result{Call: "Mount", Code: status.Code(err).String(), Message: status.Convert(err).Message()}
	if resp != nil {
		r.Objects = map[string]string{}
		for _, v := range resp.GetObjectVersion() {
			r.Objects[v.Id] = v.Version
		}
		for _, f := range resp.GetFiles() {
			r.Files = append(r.Files, file{Path: f.Path, Mode: f.Mode, Contents: string(f.Contents)})
		}
	}
	_ = out.Encode(r)
}
