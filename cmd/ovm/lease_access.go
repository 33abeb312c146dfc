package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// The access commands of a lease: its credentials, a console sign-in URL,
// and `ovm lease exec`, which runs a command with the lease's credentials.

func leaseCredentialsCommand(g *globals) *cobra.Command {
	var (
		format      string
		outputGiven bool
	)
	c := leaseArg(g, "credentials", "temporary credentials of the lease's account (json, process or env)", `  ovm lease credentials lse_0123456789abcdef
  eval "$(ovm lease credentials 129172902526 --format env)"
  credential_process = ovm lease credentials lse_0123456789abcdef --format process   # in ~/.aws/config`,
		func(s *session, id string) error {
			if format != "json" && format != "process" && format != "env" {
				return &usageError{cmd: "ovm lease credentials", msg: fmt.Sprintf("--format %q must be json, process or env", format)}
			}
			// Credentials print as --format says: a table of them would be
			// a lie, and YAML no tool reads.
			if s.output != "table" && s.output != "json" || s.output == "table" && outputGiven {
				return &usageError{cmd: "ovm lease credentials", msg: fmt.Sprintf("--output %q: credentials print as --format json, process or env", s.output)}
			}
			cr, err := s.c.LeaseCredentials(s.ctx, id)
			if err != nil {
				return err
			}
			simulatedNote(s.errOut, cr)
			switch format {
			case "process":
				return json.NewEncoder(s.out).Encode(cr.ProcessCredentials)
			case "env":
				_, err := fmt.Fprint(s.out, cr.EnvLines())
				return err
			}
			return printJSON(s.out, cr)
		})
	c.Flags().StringVar(&format, "format", "json", "json | process (credential_process) | env (export lines, with AWS_REGION and AWS_DEFAULT_REGION)")
	c.PreRun = func(c *cobra.Command, _ []string) { outputGiven = c.Flags().Changed("output") }
	return c
}

// consoleLifetime is what a console link lasts, as the API answers it
// (client.ConsoleAnswer) and docs/access.md says.
const consoleLifetime = "the link signs in once, within 15 minutes; the console session it opens ends with the lease at the latest"

func leaseConsoleCommand(g *globals) *cobra.Command {
	var (
		open        bool
		destination string
	)
	c := leaseArg(g, "console", "an AWS console sign-in URL for the lease", `  ovm lease console lse_0123456789abcdef --open
  ovm lease console 129172902526 --destination https://console.aws.amazon.com/ec2/home`,
		func(s *session, id string) error {
			ans, err := s.c.LeaseConsole(s.ctx, id, destination)
			if err != nil {
				return err
			}
			if err := s.print(ans, func(w *tabwriter.Writer) { fmt.Fprintln(w, ans.URL) }); err != nil {
				return err
			}
			note := consoleLifetime + " (" + ans.ExpiresAt.UTC().Format(time.RFC3339) + ")"
			target := ans.URL
			if ans.Simulated {
				// The sim's URL is on a host that does not exist: --open
				// shows the console's page that says what a real one does.
				target = strings.TrimRight(s.c.BaseURL, "/") + "/ui/simulated-console?lease=" + url.QueryEscape(id)
				note = "this console is simulated (the sim provider): the URL opens nothing; --open shows OVM's page that says so (" + target + ")"
			}
			fmt.Fprintln(s.errOut, "ovm: "+note)
			if open {
				return openBrowser(target)
			}
			return nil
		})
	c.Long += "\n\nThe URL is AWS's sign-in URL: " + strings.Replace(consoleLifetime, "; ", ";\n", 1) +
		".\nOn the sim provider it opens OVM's page that says the console is simulated."
	c.Flags().BoolVar(&open, "open", false, "open the URL in the default browser")
	c.Flags().StringVar(&destination, "destination", "", "console page to land on (https://...console.aws.amazon.com/...)")
	return c
}

// openBrowser opens u with $BROWSER, else the desktop's opener.
func openBrowser(u string) error {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if b := os.Getenv("BROWSER"); b != "" {
		opener = b
	}
	if err := exec.Command(opener, u).Start(); err != nil {
		return fmt.Errorf("cannot open a browser (%s): %w; open the URL above yourself", opener, err)
	}
	return nil
}

// exitStatus ends the binary with a command's own status (ovm lease exec).
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// execOptions are the flags of ovm lease exec.
type execOptions struct {
	pool        string
	ttl, wait   time.Duration
	labels      labelFlag
	lease       string
	keep        bool
	credentials string
	// waitGiven: --wait was on the command line, not the default.
	waitGiven bool
}

func leaseExecCommand(g *globals) *cobra.Command {
	o := &execOptions{labels: labelFlag{}}
	c := &cobra.Command{
		Use:   "exec [flags] -- CMD [ARGS...]",
		Short: "lease an account (or use --lease) and run CMD with its credentials; release it when CMD ends",
		Long: `Leases an account (or takes the active lease --lease names), runs CMD with its
credentials, forwards SIGINT and SIGTERM to it, releases the lease when CMD ends (unless
--keep) and exits with CMD's status. CMD also gets AWS_REGION, AWS_DEFAULT_REGION,
OVM_LEASE_ID and OVM_ACCOUNT_ID.

The credentials come one of two ways, chosen by --credentials and said on stderr:

  static keys (env): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    auto takes them when one session covers the whole lease.
  an endpoint (endpoint): AWS_CONTAINER_CREDENTIALS_FULL_URI and
    AWS_CONTAINER_AUTHORIZATION_TOKEN, a loopback endpoint that the AWS CLI and every
    AWS SDK read again before the session expires. A role session lasts at most an
    hour, so auto takes it for a longer lease (the default TTL is 24h): 'env' then
    shows no AWS_ACCESS_KEY_ID, and a long command keeps working.

When the stock is empty, it waits up to --wait (2m) for an account.`,
		Example: `  ovm lease exec -- aws sts get-caller-identity
  ovm lease exec --ttl 30m -- env                 # 30m: one session covers it, static keys
  ovm lease exec --pool sandbox --ttl 2h --label job=nightly -- terraform apply
  ovm lease exec --lease 129172902526 --keep -- aws s3 ls`,
		Args: func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usagef(c, "needs a command after --: ovm lease exec [flags] -- CMD [ARGS...]")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if o.credentials != "auto" && o.credentials != "env" && o.credentials != "endpoint" {
				return usagef(c, "--credentials %q must be auto, env or endpoint", o.credentials)
			}
			o.waitGiven = c.Flags().Changed("wait")
			if o.lease != "" && (o.pool != "" || o.ttl != 0 || o.waitGiven || len(o.labels) > 0) {
				return usagef(c, "--lease uses an existing lease: --pool, --ttl, --wait and --label make a new one")
			}
			s, err := connect(c, g)
			if err != nil {
				return err
			}
			return leaseExec(s, o, args, c.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringVar(&o.pool, "pool", "", "pool (default: the server's default pool)")
	f.DurationVar(&o.ttl, "ttl", 0, "lease duration (default: the pool's default TTL)")
	f.DurationVar(&o.wait, "wait", defaultExecWait, "wait this long for an account when the stock is empty (0: answer at once)")
	f.Var(o.labels, "label", "label key=value (repeatable)")
	f.StringVar(&o.lease, "lease", "", "use this active lease instead of making one")
	f.BoolVar(&o.keep, "keep", false, "keep the lease when CMD ends")
	f.StringVar(&o.credentials, "credentials", "auto", "auto | env (static variables) | endpoint (refreshed from a loopback endpoint)")
	return c
}

// defaultExecWait is the --wait of ovm lease exec: a person at a terminal
// would rather wait a little than read "no account in stock".
const defaultExecWait = 2 * time.Minute

// leaseExec runs args with a lease's credentials.
func leaseExec(s *session, o *execOptions, args []string, stderr io.Writer) error {
	// A command that cannot run must not cost an account: look first, and
	// answer as a shell does (127 not found, 126 not executable).
	if _, err := exec.LookPath(args[0]); err != nil {
		fmt.Fprintf(stderr, "ovm: %s: %v\n", args[0], err)
		if errors.Is(err, exec.ErrNotFound) {
			return &exitStatus{code: 127}
		}
		return &exitStatus{code: 126}
	}
	var (
		l   *client.Lease
		err error
	)
	if o.lease != "" {
		id, err := resolveLease(s, o.lease)
		if err != nil {
			return err
		}
		if l, err = s.c.LeaseGet(s.ctx, id); err == nil && l.State != "active" {
			return fmt.Errorf("lease %s has ended (%s): it gives no access any more", l.ID, l.EndReason)
		}
	} else {
		req := &client.LeaseRequest{Pool: o.pool, Wait: client.Duration(o.wait), Labels: o.labels}
		if o.ttl != 0 {
			d := client.Duration(o.ttl)
			req.TTL = &d
		}
		l, err = s.c.LeaseCreate(s.ctx, req)
		var ae *client.APIError
		if !o.waitGiven && errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.Contains(ae.Message, "wait") {
			// The server's api.max_wait is below the default wait: ask
			// again as a plain vend rather than fail on a flag not given.
			req.Wait = 0
			l, err = s.c.LeaseCreate(s.ctx, req)
		}
	}
	if err != nil {
		return err
	}
	release := func() {
		if o.keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
		defer cancel()
		if _, err := s.c.LeaseRelease(ctx, l.ID); err != nil {
			fmt.Fprintf(stderr, "ovm: could not release lease %s: %v (it ends at %s)\n", l.ID, err, l.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	// A lease this command made goes back when the setup fails; a lease
	// the caller brought (--lease) is theirs to keep.
	setupFailed := func() {
		if o.lease == "" {
			release()
		}
	}
	src := &credSource{s: s, lease: l.ID}
	cr, err := src.get()
	if err != nil {
		setupFailed()
		return err
	}
	simulatedNote(stderr, cr)
	env := scrubbedEnv()
	exp, _ := time.Parse(time.RFC3339, cr.Expiration)
	// auto: static variables when the session lasts (within a minute) as
	// long as the lease; else the endpoint, which is read again.
	useEndpoint := o.credentials == "endpoint" || o.credentials == "auto" && exp.Add(time.Minute).Before(l.ExpiresAt)
	if useEndpoint {
		ep, err := src.serve()
		if err != nil {
			setupFailed()
			return err
		}
		defer ep.Close()
		env = append(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+ep.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN="+ep.token,
			"AWS_REGION="+cr.Region, "AWS_DEFAULT_REGION="+cr.Region, "OVM_LEASE_ID="+l.ID, "OVM_ACCOUNT_ID="+l.AccountID)
		fmt.Fprintf(stderr, "ovm: lease %s (account %s): credentials from a loopback endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI), read again before each session expires; --credentials env for static keys\n",
			l.ID, l.AccountID)
	} else {
		for _, kv := range cr.Env() {
			env = append(env, kv[0]+"="+kv[1])
		}
		fmt.Fprintf(stderr, "ovm: lease %s (account %s): static credentials (AWS_ACCESS_KEY_ID...), valid until %s\n", l.ID, l.AccountID, cr.Expiration)
	}
	code, err := runChild(args, env, isTerminal(os.Stdin))
	release()
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}

// scrubbedEnv is this process's environment without AWS credentials or
// profiles that would take precedence over the lease's.
func scrubbedEnv() []string {
	drop := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN=",
		"AWS_CREDENTIAL_EXPIRATION=", "AWS_PROFILE=", "AWS_DEFAULT_PROFILE=", "AWS_CONTAINER_CREDENTIALS_FULL_URI=",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=", "AWS_CONTAINER_AUTHORIZATION_TOKEN=", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=",
		"AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_ROLE_ARN=", "AWS_REGION=", "AWS_DEFAULT_REGION=", "OVM_TOKEN="}
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			keep = keep && !strings.HasPrefix(kv, d)
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// runChild runs args with env, forwarding SIGINT and SIGTERM, and returns
// its exit status (128+signal when a signal ended it). From a terminal,
// Ctrl-C reaches the child by itself (the terminal signals the whole
// foreground process group): SIGINT is then not forwarded, or the child
// would get it twice (Terraform takes a second one as "stop now").
func runChild(args, env []string, fromTerminal bool) (int, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("run %s: %w", args[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGINT && fromTerminal {
					continue
				}
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// credSource hands out a lease's credentials, asking the server again
// when less than refreshBefore of the session is left.
type credSource struct {
	s     *session
	lease string

	mu  sync.Mutex
	cur *client.Credentials
	exp time.Time
}

const refreshBefore = 5 * time.Minute

func (c *credSource) get() (*client.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && time.Until(c.exp) > refreshBefore {
		return c.cur, nil
	}
	cr, err := c.s.c.LeaseCredentials(c.s.ctx, c.lease)
	if err != nil {
		return nil, err
	}
	c.cur = cr
	c.exp, _ = time.Parse(time.RFC3339, cr.Expiration)
	return cr, nil
}

// endpoint is the loopback container-credentials endpoint of a lease.
type endpoint struct {
	url, token string
	srv        *http.Server
}

func (e *endpoint) Close() { e.srv.Close() }

// serve starts the endpoint: GET with the token answers the container
// credentials JSON (AccessKeyId, SecretAccessKey, Token, Expiration).
func (c *credSource) serve() (*endpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	e := &endpoint{url: "http://" + ln.Addr().String() + "/credentials", token: hex.EncodeToString(b)}
	e.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/credentials" || r.Header.Get("Authorization") != e.token {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		cr, err := c.get()
		if err != nil {
			http.Error(w, "ovm: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": cr.AccessKeyID, "SecretAccessKey": cr.SecretAccessKey,
			"Token": cr.SessionToken, "Expiration": cr.Expiration})
	})}
	go e.srv.Serve(ln)
	return e, nil
}

// isTerminal reports whether f is a terminal (a TCGETS ioctl succeeds).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// simulatedNote says on stderr that credentials of the sim provider open
// nothing, so an AWS error that follows is no surprise.
func simulatedNote(w io.Writer, cr *client.Credentials) {
	if cr.Simulated {
		fmt.Fprintln(w, "ovm: these credentials are simulated (the sim provider): AWS refuses them; try commands like env")
	}
}
