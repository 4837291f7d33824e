//go:build tools

// Package tools names the command this module builds, github.com/pulumi/esc/cmd/esc (the
// official `esc` CLI), so that `go mod tidy` keeps its dependencies; it is never compiled.
// .ci/run builds the CLI from here for esc-server's CLI test.
package tools

import (
	_ "github.com/pulumi/esc/cmd/esc"
)
