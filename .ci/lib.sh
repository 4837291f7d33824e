# Shared by .ci/e2e, .ci/chart and .ci/node (sourced, from the repository's root).

KUBE_VERSION=v1.34.4   # also in e2e/build/kube/go.mod
DRIVER_VERSION=v1.6.1  # also in e2e/build/driver/go.mod
HELM_VERSION=v3.19.0
CACHE=${ESC_CSI_CACHE:-$HOME/.cache/esc-csi}

# build_cached NAME VERSION MODULE_DIR PACKAGE LDFLAGS: go build PACKAGE in MODULE_DIR into
# $CACHE/NAME-VERSION-<digest of the build modules' files>/NAME unless it is there; prints
# the binary's path. Two jobs at most: the machine is shared.
build_cached() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5 digest out start
  digest=$(find "$dir" e2e/build/mlog -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12)
  out="$CACHE/$name-$version-$digest/$name"
  if [ ! -x "$out" ]; then
    start=$SECONDS
    echo "building $name $version (then cached in ${out%/*})" >&2
    mkdir -p "${out%/*}"
    (cd "$dir" && timeout 50m go build -p 2 -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg") >&2
    mv "$out.tmp" "$out"
    echo "built $name in $((SECONDS - start)) s" >&2
  fi
  echo "$out"
}

# build_kube NAME: a command of k8s.io/kubernetes at KUBE_VERSION (e2e/build/kube), cached.
build_kube() {
  local minor=${KUBE_VERSION#v1.}
  build_cached "$1" "$KUBE_VERSION" e2e/build/kube "k8s.io/kubernetes/cmd/$1" \
    "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
}

# build_driver: the Secrets Store CSI Driver at DRIVER_VERSION (e2e/build/driver), cached.
build_driver() {
  build_cached secrets-store-csi-driver "$DRIVER_VERSION" e2e/build/driver sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver \
    "-s -w -X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=$DRIVER_VERSION"
}

# build_go_provider: the Go provider esc-csi replaces (peers/pulumi-esc-csi-provider/src, vendored:
# the module proxy refuses its module) as its release builds it (static, -trimpath), cached.
GO_PROVIDER_VERSION=0.1.1  # its chart 0.1.6's appVersion
build_go_provider() {
  (export CGO_ENABLED=0 && build_cached pulumi-esc-csi-provider "$GO_PROVIDER_VERSION" peers/pulumi-esc-csi-provider/src . \
    "-s -w -X main.version=$GO_PROVIDER_VERSION")
}

# ensure_helm: Helm at HELM_VERSION built from source into target/tools/bin; prints its path.
# `go install` builds leave helm's own version string unset, so a marker records which one.
ensure_helm() {
  local tools=$PWD/target/tools
  if [ ! -x "$tools/bin/helm" ] || [ "$(cat "$tools/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]; then
    echo "building helm $HELM_VERSION from source" >&2
    GOBIN="$tools/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
    echo "$HELM_VERSION" > "$tools/helm.version"
  fi
  echo "$tools/bin/helm"
}
