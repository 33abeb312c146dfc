// Command ovm is the AWS Organizations Vending Machine: `ovm serve` runs the
// API and the workers; the other commands are its command-line client.
//
//	ovm serve [--config FILE] [--listen ADDR] [--data DIR]
//	ovm vend
//	ovm lease create [--pool P] [--ttl D] [--wait D] [--label k=v]...
//	ovm lease list|get|extend|release
//	ovm pool list|status
//	ovm account list|get|retry|retire
//	ovm key create|list|revoke
//	ovm secret put NAME [--config FILE | --data DIR]
//	ovm version
//
// Client commands read OVM_URL (default http://127.0.0.1:8080) and OVM_TOKEN
// (default: the key in ./ovm-data/admin.key) and print tables, or JSON with
// --output json. Global flags go before or after the command. The command
// line is built on cobra (docs/adr/0005-cli-on-cobra.md).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command line the commands cannot run: it is printed as
// one line with a hint, and the exit code is 2.
type usageError struct {
	cmd string // the command's path, e.g. "ovm lease create"
	msg string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s: %s (see %s --help)", e.cmd, e.msg, e.cmd)
}

func usagef(c *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: c.CommandPath(), msg: fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests: 0 on success, 2 for a usage
// error, 1 for any other.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr)
}

// runWith is run with its standard input.
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var (
		ue *usageError
		es *exitStatus
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return es.code // the command of ovm lease exec spoke for itself
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.Error())
		return 2
	default:
		fmt.Fprintln(stderr, "ovm:", err)
		return 1
	}
}

// globals are the flags of every client command.
type globals struct {
	output string
	url    string
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ovm",
		Short: "ovm - the AWS Organizations Vending Machine",
		Long: `ovm - the AWS Organizations Vending Machine

It keeps a stock of fresh AWS accounts, vends one per lease through an
authenticated API, and retires it when the lease ends. 'ovm serve' runs it;
the other commands are its client (OVM_URL, OVM_TOKEN).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(stderr)
			c.Help()
			return usagef(c, "a command is required")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.PersistentFlags().StringVar(&g.url, "url", "", "OVM server (default $OVM_URL, else http://127.0.0.1:8080)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usagef(c, "%v", err) })
	root.AddCommand(serveCommand(stdout, stderr), secretCommand(stdin, stdout), versionCommand(g, stdout), vendCommand(g),
		leaseCommand(g), templateCommand(g), poolCommand(g), accountCommand(g), keyCommand(g), deliveryCommand(g), iamPolicyCommand(stdout),
		spendCommand(g), pricesCommand())
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			c.Args = subcommandRequired
			c.RunE = func(c *cobra.Command, _ []string) error { return nil } // Args decides
		}
	}
	return root
}

// noArgs refuses positional arguments, naming the first one.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(c, "unknown command or argument %q", args[0])
	}
	return nil
}

// subcommandRequired is the Args of a group (ovm lease): it names the
// subcommands when none or an unknown one is given.
func subcommandRequired(c *cobra.Command, args []string) error {
	var names []string
	for _, s := range c.Commands() {
		names = append(names, s.Name())
	}
	if len(args) == 0 {
		return usagef(c, "a subcommand is required: %s", strings.Join(names, ", "))
	}
	return usagef(c, "unknown subcommand %q: use one of %s", args[0], strings.Join(names, ", "))
}

// exactArgs requires one positional argument per name.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != len(names) {
			if len(names) == 0 {
				return usagef(c, "unexpected argument %q", args[0])
			}
			return usagef(c, "needs %s, got %d argument(s)", strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// version is set at build time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

func versionCommand(g *globals, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version of this binary",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			v := map[string]string{"version": version, "go": runtime.Version()}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						v["revision"] = s.Value
					case "vcs.modified":
						v["modified"] = s.Value
					}
				}
			}
			if err := checkOutput(c, g); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(stdout, v)
			}
			line := "ovm " + v["version"] + " (" + v["go"]
			if r := v["revision"]; r != "" {
				line += ", " + r[:min(12, len(r))]
				if v["modified"] == "true" {
					line += "+modified"
				}
			}
			fmt.Fprintln(stdout, line+")")
			return nil
		},
	}
}
