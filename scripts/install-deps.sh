#!/usr/bin/env bash
# Installs the test dependencies that are missing on this machine. Safe to run
# again: it only installs what `command -v` cannot find.
set -euo pipefail

need_apt=()
# moto_server (Python) ships with this machine kind; aws-nuke is the Debian
# package the recycling tests run for real.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "install-deps: moto_server is missing; installing it with pip" >&2
  pip install 'moto[server]' >/dev/null
fi

# cfn-lint (Python) lints deploy/cloudformation/ovm.yaml.
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "install-deps: cfn-lint is missing; installing it with pip" >&2
  pip install cfn-lint >/dev/null
fi

command -v aws-nuke >/dev/null 2>&1 || need_apt+=(aws-nuke)
# The sign-up provider drives Debian's Chromium; its tests speak captchas
# with espeak-ng.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
# The metrics tests run a real Prometheus and promtool (rules checks).
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# `make image` and its test build the container image with podman.
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
# The systemd unit's test runs systemd-analyze verify; the backup test runs
# sqlite3's .backup (docs/upgrades.md).
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)

# dynalite (npm), an independent DynamoDB implementation for the store's
# conformance suite, installed under .tools/ (ignored by git).
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$here/.tools/node_modules/.bin/dynalite" ] && ! command -v dynalite >/dev/null 2>&1; then
  echo "install-deps: installing dynalite under .tools/" >&2
  npm install --silent --no-audit --no-fund --prefix "$here/.tools" dynalite@4 >/dev/null
fi

# axe-core (the browser test injects it into every console page) and
# Spectral (lints httpapi/openapi.json), pinned by tools/npm/package-lock.json
# and installed with npm ci under tools/npm/node_modules (ignored by git);
# again only when the lock file changed since.
if ! cmp -s "$here/tools/npm/package-lock.json" "$here/tools/npm/node_modules/.ovm-installed-lock" 2>/dev/null; then
  echo "install-deps: installing tools/npm (axe-core, Spectral) with npm ci" >&2
  (cd "$here/tools/npm" && npm ci --silent --no-audit --no-fund >/dev/null)
  cp "$here/tools/npm/package-lock.json" "$here/tools/npm/node_modules/.ovm-installed-lock"
fi

# oapi-codegen builds a client from httpapi/openapi.json in
# TestAGeneratedClientMakesALease; its runtime module is what that client
# builds with (the test's own go.mod names the same version).
if [ ! -x "$here/.tools/bin/oapi-codegen" ]; then
  echo "install-deps: installing oapi-codegen under .tools/bin" >&2
  GOBIN="$here/.tools/bin" go install github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2
fi
go mod download github.com/oapi-codegen/runtime@v1.9.0

if ((${#need_apt[@]})); then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
go mod download
