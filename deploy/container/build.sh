#!/usr/bin/env bash
# Builds the OVM image on scratch with podman: the binary comes from the
# host's Go, so no base image is pulled from a registry.
#   deploy/container/build.sh [TAG]     (default ovm:dev; VERSION=v1.2.3 sets the version)
# PODMAN_FLAGS adds global podman flags (e.g. --storage-driver vfs).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-ovm:dev}
version=${VERSION:-dev}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
(cd "$here" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
  -ldflags "-s -w -X main.version=$version" -o "$ctx/ovm" ./cmd/ovm)
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
echo 'ovm:x:65532:65532:ovm:/data:/sbin/nologin' >"$ctx/passwd"
mkdir "$ctx/data"
# shellcheck disable=SC2086
podman ${PODMAN_FLAGS:-} build --quiet -f "$here/deploy/container/Containerfile" \
  --build-arg VERSION="$version" -t "$tag" "$ctx"
