# esc-csi image: the release binary on distroless/cc (glibc, CA certificates, nothing else).
#
# Dynamic rather than static: a static glibc binary resolves host names through NSS modules
# that a distroless image does not have; distroless/cc carries the same glibc (Debian 12) the
# builder links against, so the dynamic binary runs as built. `.ci/chart` runs the build
# command below and checks the binary needs only what distroless/cc has.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t esc-csi .

# A full version, so the image builds with the compiler CI used (`rustc --version` in .ci/run).
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# ESC_CSI_RELEASE_LINK: packed relocations (crates/esc-csi/build.rs), 7 KB read at start instead
# of 630 KB; the runtime's glibc 2.36 has DT_RELR.
RUN ESC_CSI_RELEASE_LINK=1 cargo build --release --locked -p esc-csi \
 && cp target/release/esc-csi /esc-csi

# The nonroot user (65532) suits `esc-csi mount` and `esc-server`; the chart runs the daemon as
# UID 0 with every capability dropped, because the host's providers folder is root-owned.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="esc-csi" \
      org.opencontainers.image.description="Pulumi ESC provider for the Kubernetes Secrets Store CSI Driver" \
      org.opencontainers.image.source="https://github.com/esc-csi/esc-csi" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /esc-csi /usr/local/bin/esc-csi
ENTRYPOINT ["/usr/local/bin/esc-csi"]
CMD ["serve"]
