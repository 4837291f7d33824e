// Command livenessprobe stands in for kubernetes-csi's livenessprobe (v2.18.0, the image the
// driver's chart v1.6.1 names), which the Go module proxy does not serve. As the real one, with
// its flags: GET /healthz calls the CSI driver's Probe at --csi-address within --probe-timeout
// and answers 200 "ok" when it reports ready, 500 otherwise.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/run/csi/socket", "the CSI driver's socket")
	timeout := flag.Duration("probe-timeout", time.Second, "deadline of one Probe call")
	endpoint := flag.String("http-endpoint", "0.0.0.0:9808", "address of /healthz")
	flag.Int("v", 0, "log verbosity (accepted for the real probe's flag)")
	flag.Parse()
	conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	identity := csi.NewIdentityClient(conn)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			log.Printf("health check failed: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if ready := resp.GetReady(); ready != nil && !ready.GetValue() {
			http.Error(w, "driver responded but is not ready", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	})
	log.Printf("serving /healthz on %s for %s", *endpoint, *csiAddress)
	log.Fatal(http.ListenAndServe(*endpoint, nil))
}
