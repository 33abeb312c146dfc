package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func templateTable(ts ...client.Template) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TEMPLATE\tPOOL\tTTL\tMAX TTL\tPER OWNER\tPER TEAM\tDESCRIPTION")
		for _, t := range ts {
			team := "-"
			if t.MaxPerTeam > 0 {
				team = fmt.Sprint(t.MaxPerTeam)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Name, t.Pool, time.Duration(t.DefaultTTL), time.Duration(t.MaxTTL),
				t.MaxPerOwner, team, orDash(t.Description))
		}
	}
}

func templateCommand(g *globals) *cobra.Command {
	list := clientCommand(g, "list", "list the templates you may use (admins: all)", nil, func(s *session, _ []string) error {
		page, err := s.c.TemplateList(s.ctx)
		if err != nil {
			return err
		}
		return s.print(page, templateTable(page.Items...))
	})
	list.Example = "  ovm template list\n  ovm template list -o name"
	return group("template", "see the lease templates you may use", list,
		withExample("  ovm template get default\n  ovm template get sandbox -o yaml", clientCommand(g, "get NAME", "one template: its terms and what its guardrails do", []string{"NAME"}, func(s *session, a []string) error {
			t, err := s.c.TemplateGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(t, func(w *tabwriter.Writer) {
				templateTable(*t)(w)
				if len(t.Allowed) > 0 {
					fmt.Fprintf(w, "\nallowed: %s\n", strings.Join(t.Allowed, ", "))
				}
				fmt.Fprintln(w, "\nguardrails:")
				for _, line := range t.GuardrailSummary {
					fmt.Fprintf(w, "  %s\n", line)
				}
			})
		})))
}
