// Package awsnuke wipes an AWS account by running the real aws-nuke binary
// (Debian package aws-nuke, 2.16) as a subprocess: with short-lived
// credentials of that account only (passed in its environment, never on its
// command line), a configuration generated per run (Generate: blocklist with
// the management account, filters that keep OVM's roles), and a hard
// timeout that kills the whole process group. Its output is parsed into a
// Report per run.
package awsnuke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Runner runs aws-nuke.
type Runner struct {
	// Binary is the aws-nuke executable (default "aws-nuke" on PATH).
	Binary string
	// ForceSleep is aws-nuke's --force-sleep in seconds (default 3, its minimum).
	ForceSleep int
	// Clock measures durations (tests); default time.Now.
	Now func() time.Time
}

// Run wipes p.Target with creds (credentials of the target account) for at
// most timeout, and returns the report. The error is non-nil when aws-nuke
// could not be started or the configuration was refused; a run that ends
// with failed deletions, a non-zero exit or at the timeout is a report that
// is not OK, with a nil error.
func (r *Runner) Run(ctx context.Context, p Params, creds aws.Credentials, timeout time.Duration) (*Report, error) {
	conf, err := Generate(p)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ovm-nuke-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "nuke.yaml")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		return nil, err
	}
	bin := r.Binary
	if bin == "" {
		bin = "aws-nuke"
	}
	sleep := max(r.ForceSleep, 3)
	region := p.EndpointRegion
	if region == "" {
		region = "us-east-1"
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	args := []string{"--config", path, "--force", "--force-sleep", strconv.Itoa(sleep), "--no-dry-run", "--quiet",
		"--default-region", region, "--max-wait-retries", "60"}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(minimalEnv(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_SESSION_TOKEN="+creds.SessionToken, "AWS_REGION="+region)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("awsnuke: start %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	timedOut := false
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole group
		waitErr = <-done
	}
	rep := Parse(bytes.NewReader(out.Bytes()))
	rep.Tail = tail(out.String(), 20)
	rep.Duration = now().Sub(start)
	rep.TimedOut = timedOut
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		rep.ExitCode = ee.ExitCode()
	}
	return rep, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// minimalEnv passes on what aws-nuke needs from OVM's environment, and no
// AWS settings: the run uses only the credentials it is given.
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}
