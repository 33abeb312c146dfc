// Package mototest runs a real moto_server for tests: one per test binary,
// on a free loopback port, reset before each test that asks for it.
//
// When moto_server is not installed a test is skipped on a developer's
// machine, but fails when CI=true: CI must run what needs moto.
package mototest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ovmdev/ovm/internal/testserver"
)

// Server is a running moto_server.
type Server struct {
	URL  string
	proc *testserver.Process
}

var (
	shared = &testserver.Shared{Options: options}
	mu     sync.Mutex
)

// Require returns the shared server, reset to an empty state for t. It
// skips t when moto_server is missing, unless CI=true, where it fails.
func Require(t testing.TB) *Server {
	t.Helper()
	s := &Server{proc: shared.Require(t)}
	s.URL = s.proc.URL
	mu.Lock() // tests that share the server must not overlap
	t.Cleanup(mu.Unlock)
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Main runs the tests of a package and stops the shared server after them.
// Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server, if it runs.
func Stop() { shared.Stop() }

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

// options start moto's application with serialLauncher, AWS managed
// policies loaded (AdministratorAccess is attached); it is ready when a
// reset answers.
var options = testserver.Options{
	Name: "moto_server",
	Hint: "make deps installs it",
	Command: func(_ string, port int) *exec.Cmd {
		cmd := exec.Command("python3", "-c", serialLauncher, "127.0.0.1", fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
		return cmd
	},
	Ready:   reset,
	Timeout: 60 * time.Second,
}

// Start starts a moto server of its own (not the shared one) on a free
// loopback port and waits until it answers. Close stops it.
func Start() (*Server, error) {
	p, err := testserver.Start(options)
	if err != nil {
		return nil, err
	}
	return &Server{URL: p.URL, proc: p}, nil
}

// Reset empties every moto backend.
func (s *Server) Reset() error { return reset(s.URL) }

func reset(url string) error {
	res, err := http.Post(url+"/moto-api/reset", "application/json", nil)
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
func (s *Server) Close() { s.proc.Stop() }

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
