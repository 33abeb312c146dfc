// Package container holds OVM's container images (Containerfile: the static
// binary on scratch; Containerfile.tools: Debian with Chromium and aws-nuke)
// and the test that builds the first with podman and checks it. See
// docs/deploy.md.
package container
