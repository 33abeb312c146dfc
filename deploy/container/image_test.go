package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/internal/testtool"
)

// TestImage builds the image with build.sh under a tag of its own, checks its
// configuration with podman image inspect, copies the binary out of it and
// runs `ovm version` on the host (containers cannot be started here).
func TestImage(t *testing.T) {
	podman := testtool.Require(t, "podman", "make deps (apt-get install podman)")
	tag := fmt.Sprintf("localhost/ovm-test:%d", os.Getpid())
	build := exec.Command("./build.sh", tag)
	build.Env = append(os.Environ(), "VERSION=v0.0.0-imagetest")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "--force", tag).Run() })

	out, err := exec.Command(podman, "image", "inspect", tag).Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	var images []struct {
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Volumes      map[string]struct{}
			ExposedPorts map[string]struct{}
			Labels       map[string]string
		}
	}
	if err := json.Unmarshal(out, &images); err != nil || len(images) != 1 {
		t.Fatalf("inspect: %v %s", err, out)
	}
	c := images[0].Config
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("user", c.User, "65532:65532")
	check("entrypoint", strings.Join(c.Entrypoint, " "), "/usr/local/bin/ovm")
	check("cmd", strings.Join(c.Cmd, " "), "serve --data /data --listen 0.0.0.0:8080")
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes = %v, want /data", c.Volumes)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports = %v, want 8080/tcp", c.ExposedPorts)
	}
	check("version label", c.Labels["org.opencontainers.image.version"], "v0.0.0-imagetest")

	// The binary, taken out of the image, runs on the host.
	ctr, err := exec.Command(podman, "create", tag).Output()
	if err != nil {
		t.Fatalf("podman create: %v", err)
	}
	id := strings.TrimSpace(string(ctr))
	t.Cleanup(func() { _ = exec.Command(podman, "rm", "--force", id).Run() })
	bin := filepath.Join(t.TempDir(), "ovm")
	if out, err := exec.Command(podman, "cp", id+":/usr/local/bin/ovm", bin).CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v\n%s", err, out)
	}
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd"} {
		if out, err := exec.Command(podman, "cp", id+":"+f, t.TempDir()).CombinedOutput(); err != nil {
			t.Errorf("%s missing from the image: %v\n%s", f, err, out)
		}
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("ovm version: %v", err)
	}
	if !strings.HasPrefix(string(got), "ovm v0.0.0-imagetest (go") {
		t.Errorf("ovm version = %q, want it to start with %q", got, "ovm v0.0.0-imagetest (go")
	}
}
