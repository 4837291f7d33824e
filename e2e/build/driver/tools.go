//go:build tools

// Package tools records the command this module builds, so `go mod tidy` keeps its
// dependencies; it is never compiled.
package tools

import (
	_ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
)
