// Package dynalitetest runs dynalite, an independent DynamoDB
// implementation from npm, for tests: one in-memory server per test binary
// on a free loopback port. `make deps` installs it under .tools/.
//
// When dynalite is not installed a test is skipped on a developer's machine
// and fails when CI=true.
package dynalitetest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ovmdev/ovm/internal/testserver"
)

// Server is a running dynalite.
type Server struct {
	URL string
}

var shared = &testserver.Shared{Options: testserver.Options{
	Name: "dynalite",
	Hint: "make deps installs it",
	Find: Binary,
	Command: func(bin string, port int) *exec.Cmd {
		return exec.Command(bin, "--port", fmt.Sprint(port), "--host", "127.0.0.1",
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	},
	Ready: func(url string) error {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
		}
		return err
	},
}}

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
	return &Server{URL: shared.Require(t).URL}
}

// Main runs the tests and stops the shared server. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server, if it runs.
func Stop() { shared.Stop() }

// Config is an AWS configuration pointing at the server.
func (s *Server) Config() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.URL), HTTPClient: &http.Client{Timeout: 30 * time.Second}}
}
