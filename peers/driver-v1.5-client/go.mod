module github.com/esc-csi/esc-csi/peers/driver-v1.5-client

go 1.24.13

require (
	google.golang.org/grpc v1.56.3
	sigs.k8s.io/secrets-store-csi-driver v1.5.6
)

require (
	github.com/golang/protobuf v1.5.4 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
	google.golang.org/genproto v0.0.0-20230410155749-daa745c078e1 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)

// The module proxy does not serve monis.app/mlog, which the driver's go.mod requires (only its
// main and server.go import it): the suite's klog stand-in takes its place.
replace monis.app/mlog => ../../e2e/build/mlog
