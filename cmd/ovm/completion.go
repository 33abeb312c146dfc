package main

import (
	"github.com/spf13/cobra"
)

// completionCommand is `ovm completion bash|zsh|fish`: cobra's generated
// shell completion scripts.
func completionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print a shell completion script",
		Long: `Prints the completion script of a shell; load it in the shell's startup file.

  bash:  source <(ovm completion bash)            (needs bash-completion)
  zsh:   ovm completion zsh > "${fpath[1]}/_ovm"  (then start a new shell)
  fish:  ovm completion fish > ~/.config/fish/completions/ovm.fish`,
		Example: `  source <(ovm completion bash)
  ovm completion zsh > "${fpath[1]}/_ovm"`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs("SHELL"),
		RunE: func(c *cobra.Command, a []string) error {
			out := c.OutOrStdout()
			switch a[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return usagef(c, "unknown shell %q: use bash, zsh or fish", a[0])
		},
	}
}
