// Package mototest runs a real moto_server for tests: one per test binary,
// on a free loopback port, reset before each test that asks for it.
//
// When moto_server is not installed a test is skipped on a developer's
// machine, but fails when CI=true: CI must run what needs moto.
package mototest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ovmdev/ovm/internal/testtool"
)

// Server is a running moto_server.
type Server struct {
	URL string
	cmd *exec.Cmd
	out *strings.Builder
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
	mu        sync.Mutex
)

// Require returns the shared server, reset to an empty state for t. It
// skips t when moto_server is missing, unless CI=true, where it fails.
func Require(t testing.TB) *Server {
	t.Helper()
	testtool.Require(t, "moto_server", "make deps installs it")
	once.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatalf("starting moto_server: %v", sharedErr)
	}
	mu.Lock() // tests that share the server must not overlap
	t.Cleanup(mu.Unlock)
	if err := shared.Reset(); err != nil {
		t.Fatal(err)
	}
	return shared
}

// Main runs the tests of a package and stops the shared server after them.
// Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server, if it runs.
func Stop() {
	if shared != nil {
		shared.Close()
		shared = nil
	}
}

// serialLauncher runs moto's server application like moto_server does, but
// serving one request at a time. moto_server is threaded and its DynamoDB
// checks a condition expression and writes without a lock, so two
// concurrent conditional writes to one item can both succeed; real DynamoDB
// makes each single-item write atomic. Serving serially restores that
// guarantee, which the store's concurrency tests rely on.
const serialLauncher = `import sys
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
`

// Start starts moto's server on a free loopback port and waits until it
// answers. AWS managed policies are loaded (AdministratorAccess is attached).
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), out: &strings.Builder{}}
	s.cmd = exec.Command("python3", "-c", serialLauncher, "127.0.0.1", fmt.Sprint(port))
	s.cmd.Env = append(os.Environ(), "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// The server dies with the test binary even if Main is not reached.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := s.Reset(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("moto_server did not answer on %s: %s", s.URL, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Reset empties every moto backend.
func (s *Server) Reset() error {
	res, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("moto reset: %s", res.Status)
	}
	return nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
	}
}

// Config is an AWS configuration for the management account of moto
// (123456789012) with static test credentials and moto as the endpoint.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
}

// WithContext is a helper for short test calls.
func WithContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
