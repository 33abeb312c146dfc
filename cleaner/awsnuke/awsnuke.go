// Package awsnuke wipes an AWS account by running the real aws-nuke binary
// (Debian package aws-nuke, 2.16) as a subprocess: with short-lived
// credentials of that account only (passed in its environment, never on its
// command line), a configuration generated per run (Generate: blocklist with
// the management account, filters that keep OVM's roles), and a hard
// timeout that kills the whole process group. Its output is parsed into a
// Report per run.
package awsnuke

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// Heartbeat is how often a watched run reports even when aws-nuke
	// prints nothing (default 10s): a lister can take minutes silently.
	Heartbeat time.Duration
	// Clock measures durations (tests); default time.Now.
	Now func() time.Time
}

// Run wipes p.Target with creds (credentials of the target account) for at
// most timeout, and returns the report. The error is non-nil when aws-nuke
// could not be started or the configuration was refused; a run that ends
// with failed deletions, a non-zero exit or at the timeout is a report that
// is not OK, with a nil error.
//
// watch, when not nil, hears how the run is going: once at its start,
// whenever a line of output changes the progress, and every Heartbeat.
// Calls never overlap; watch should return quickly (output waits for it).
func (r *Runner) Run(ctx context.Context, p Params, creds aws.Credentials, timeout time.Duration, watch func(Progress)) (*Report, error) {
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
	beat := r.Heartbeat
	if beat <= 0 {
		beat = 10 * time.Second
	}
	args := []string{"--config", path, "--force", "--force-sleep", strconv.Itoa(sleep), "--no-dry-run", "--quiet",
		"--default-region", region, "--max-wait-retries", "60"}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(minimalEnv(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_SESSION_TOKEN="+creds.SessionToken, "AWS_REGION="+region)
	start := now()
	out := &stream{watch: watch, elapsed: func() time.Duration { return now().Sub(start) }, sleep: time.Duration(sleep) * time.Second}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out.mu.Lock() // no output is parsed before the group is known
	if err := cmd.Start(); err != nil {
		out.mu.Unlock()
		return nil, fmt.Errorf("awsnuke: start %s: %w", bin, err)
	}
	out.pgid = cmd.Process.Pid // Setpgid: the group is named after its leader
	out.notify(true)
	out.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	timedOut := false
	var waitErr error
wait:
	for {
		select {
		case waitErr = <-done:
			break wait
		case <-ticker.C:
			out.heartbeat()
		case <-timer.C:
			timedOut = true
			break wait
		case <-ctx.Done():
			timedOut = true
			break wait
		}
	}
	if timedOut {
		syscall.Kill(-out.pgid, syscall.SIGKILL) // the whole group
		waitErr = <-done
	}
	syscall.Kill(-out.pgid, syscall.SIGKILL) // whatever the leader left behind
	rep := out.finish()
	rep.Duration = now().Sub(start)
	rep.TimedOut = timedOut
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		rep.ExitCode = ee.ExitCode()
	}
	return rep, nil
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
