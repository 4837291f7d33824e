//go:build tools

// Package tools records the commands this module builds, so `go mod tidy` keeps their
// dependencies; it is never compiled. kube-apiserver serves .ci/e2e; all five serve .ci/node's
// real node (one module, so their builds share packages).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
