//go:build tools

// Package tools names the command this module builds, github.com/prometheus/prometheus/cmd/promtool,
// so that `go mod tidy` keeps its dependencies; it is never compiled. .ci/observability builds
// promtool from here.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
