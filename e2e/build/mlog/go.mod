// A stand-in for monis.app/mlog, which the Go module proxy refuses to serve, so
// sigs.k8s.io/secrets-store-csi-driver cannot be built from its module without it. The driver
// uses it only in its main package and pkg/secrets-store/server.go, for six names (Setup, Fatal,
// Error, FormatText, FormatJSON, ValidateAndSetKlogLevelAndFormatGlobally); this module gives
// them over klog, which is all the end-to-end suite needs. Wired in by a replace directive in
// ../driver/go.mod.
module monis.app/mlog

go 1.24.0

require k8s.io/klog/v2 v2.140.0

require github.com/go-logr/logr v1.4.1 // indirect
