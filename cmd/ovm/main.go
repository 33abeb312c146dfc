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
//	ovm completion bash|zsh|fish
//
// Client commands read OVM_URL or --url (default http://127.0.0.1:8080) and
// OVM_TOKEN or --token (default: the key in ./ovm-data/admin.key) and print
// tables, or with --output json, yaml or name (ids only); their exit codes
// say what failed (exit.go). Global flags go before or after the command. The command
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
	root, g := newRootGlobals(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var es *exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es):
		return es.code // the command of ovm lease exec spoke for itself
	}
	return writeError(stderr, err, g)
}

// globals are the flags of every client command.
type globals struct {
	output string
	url    string
	token  string
}

// baseURL is the server's URL: --url, else OVM_URL, else the default.
func (g *globals) baseURL() string {
	if g.url != "" {
		return g.url
	}
	return envOr("OVM_URL", "http://127.0.0.1:8080")
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root, _ := newRootGlobals(stdin, stdout, stderr)
	return root
}

// newRootGlobals is newRoot and the global flags it parses into.
func newRootGlobals(stdin io.Reader, stdout, stderr io.Writer) (*cobra.Command, *globals) {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ovm",
		Short: "ovm - the AWS Organizations Vending Machine",
		Long: `ovm - the AWS Organizations Vending Machine

It keeps a stock of fresh AWS accounts, vends one per lease through an
authenticated API, and retires it when the lease ends. 'ovm serve' runs it;
the other commands are its client (OVM_URL or --url, OVM_TOKEN or --token).

` + exitCodesHelp,
		Example: `  ovm serve                                  # the embedded default on 127.0.0.1:8080
  ovm lease create --ttl 2h                  # lease an account; prints the lease id
  ovm lease exec -- env                      # lease, run a command with its credentials, release
  ovm pool status default -o json            # one pool, as JSON`,
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
	root.CompletionOptions.DisableDefaultCmd = true // ours has help and examples
	root.SuggestionsMinimumDistance = 2
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json, yaml or name (ids only)")
	root.PersistentFlags().StringVar(&g.url, "url", "", "OVM server (default $OVM_URL, else http://127.0.0.1:8080)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API key (default $OVM_TOKEN, else the key in ./ovm-data/admin.key)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usagef(c, "%v", err) })
	root.AddCommand(serveCommand(stdout, stderr), secretCommand(stdin, stdout), versionCommand(g, stdout), vendCommand(g),
		leaseCommand(g), templateCommand(g), poolCommand(g), accountCommand(g), keyCommand(g), deliveryCommand(g), iamPolicyCommand(g, stdout),
		spendCommand(g), pricesCommand())
	for _, c := range root.Commands() {
		if c.HasSubCommands() && c.Example == "" {
			c.Example = groupExample(c)
		}
		if c.HasSubCommands() {
			c.Args = subcommandRequired
			c.RunE = func(c *cobra.Command, _ []string) error { return nil } // Args decides
		}
	}
	root.AddCommand(completionCommand(root))
	return root, g
}

// groupExample is a group's examples: the first of each subcommand's.
func groupExample(c *cobra.Command) string {
	var lines []string
	for _, s := range c.Commands() {
		if first, _, _ := strings.Cut(s.Example, "\n"); first != "" {
			lines = append(lines, first)
		}
	}
	return strings.Join(lines, "\n")
}

// noArgs refuses positional arguments, naming the first one.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(c, "unknown command or argument %q%s", args[0], didYouMean(c, args[0]))
	}
	return nil
}

// didYouMean names the subcommands of c close to a mistyped name (cobra's
// Levenshtein distance of 2, or a prefix), as " (did you mean x?)".
func didYouMean(c *cobra.Command, typed string) string {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	s := c.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(s, " or ") + "?)"
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
	return usagef(c, "unknown subcommand %q%s: use one of %s", args[0], didYouMean(c, args[0]), strings.Join(names, ", "))
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
		Use:     "version",
		Short:   "print the version of this binary",
		Example: "  ovm version\n  ovm version -o json",
		Args:    exactArgs(),
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
			switch g.output {
			case "json":
				return printJSON(stdout, v)
			case "yaml":
				return printYAML(stdout, v)
			case "name":
				_, err := fmt.Fprintln(stdout, v["version"])
				return err
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
