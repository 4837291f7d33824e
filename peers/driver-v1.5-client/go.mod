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

replace monis.app/mlog => ./mlog
