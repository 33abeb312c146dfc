// Package testserver starts an external server program for tests: on a
// free loopback port, in a process group of its own that dies with the test
// binary (even when no cleanup runs), ready once it answers a probe, and
// stopped by killing the whole group. internal/mototest and
// internal/dynalitetest are built on it.
//
// A program that is not installed skips the test on a developer's machine
// and fails it when CI=true (internal/testtool).
package testserver

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/internal/testtool"
)

// Options say how to find, start and probe a server.
type Options struct {
	// Name is the program's name in messages (e.g. "moto_server").
	Name string
	// Hint says how to install it.
	Hint string
	// Find returns the program's path, or an error when it is not
	// installed (nil: exec.LookPath(Name)).
	Find func() (string, error)
	// Command returns the command that serves on 127.0.0.1:port; path is
	// what Find returned.
	Command func(path string, port int) *exec.Cmd
	// Ready returns nil once the server at url answers.
	Ready func(url string) error
	// Timeout bounds the wait for Ready (default 30s).
	Timeout time.Duration
}

func (o *Options) find() (string, error) {
	if o.Find != nil {
		return o.Find()
	}
	return exec.LookPath(o.Name)
}

// Process is a running server.
type Process struct {
	// URL is http://127.0.0.1:<port>.
	URL string
	cmd *exec.Cmd
	out *syncBuffer
}

// Start starts the server on a free loopback port and waits until it is
// ready.
func Start(o Options) (*Process, error) {
	path, err := o.find()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Process{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: o.Command(path, port), out: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Its own group, so Stop kills what the program starts too; SIGKILL
	// when the test binary dies before Stop.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		err := o.Ready(p.URL)
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s did not answer on %s (%v): %s", o.Name, p.URL, err, p.Output())
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server's process group and waits for the server. Stopping
// twice is a no-op.
func (p *Process) Stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Wait()
}

// Output is what the server has printed so far.
func (p *Process) Output() string { return p.out.String() }

// Shared is one server per test binary, started by the first Require and
// stopped by Stop (from TestMain, after the tests).
type Shared struct {
	Options Options

	mu  sync.Mutex
	p   *Process
	err error
}

// Require returns the shared server, starting it on first use. It skips t
// when the program is missing (fails it under CI=true), and fails t when
// the server does not start.
func (s *Shared) Require(t testing.TB) *Process {
	t.Helper()
	path, err := s.Options.find()
	testtool.Found(t, s.Options.Name, s.Options.Hint, path, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil && s.err == nil {
		s.p, s.err = Start(s.Options)
	}
	if s.err != nil {
		t.Fatalf("starting %s: %v", s.Options.Name, s.err)
	}
	return s.p
}

// Stop stops the shared server, if it runs; a later Require starts a new
// one.
func (s *Shared) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.Stop()
	}
	s.p, s.err = nil, nil
}

// syncBuffer collects a server's output; the copying goroutines of
// exec.Cmd write while a failed start reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
