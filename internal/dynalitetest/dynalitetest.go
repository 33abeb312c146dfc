// Package dynalitetest runs dynalite, an independent DynamoDB
// implementation from npm, for tests: one in-memory server per test binary
// on a free loopback port. `make deps` installs it under .tools/.
//
// When dynalite is not installed a test is skipped on a developer's machine
// and fails when CI=true.
package dynalitetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ovmdev/ovm/internal/testtool"
)

// Server is a running dynalite.
type Server struct {
	URL string
	cmd *exec.Cmd
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
)

// Binary finds dynalite: the repository's .tools, then PATH.
func Binary() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	return exec.LookPath("dynalite")
}

// Require returns the shared server, skipping t (failing under CI=true)
// when dynalite is missing.
func Require(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	testtool.Found(t, "dynalite", "make deps installs it", bin, err)
	once.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		t.Fatalf("starting dynalite: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and stops the shared server. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server, if it runs.
func Stop() {
	if shared != nil {
		syscall.Kill(-shared.cmd.Process.Pid, syscall.SIGKILL)
		shared.cmd.Wait()
		shared = nil
	}
}

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	out := &strings.Builder{}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--host", "127.0.0.1", "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(s.URL); err == nil {
			res.Body.Close()
			return s, nil
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return nil, fmt.Errorf("dynalite did not answer: %s", out.String())
}

// Config is an AWS configuration pointing at the server.
func (s *Server) Config() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.URL), HTTPClient: &http.Client{Timeout: 30 * time.Second}}
}
