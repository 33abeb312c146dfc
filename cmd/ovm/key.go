package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func keyTable(keys ...client.Key) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tREVOKED\tTEAMS")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, fmtTime(&k.CreatedAt), fmtTime(k.RevokedAt), orDash(strings.Join(k.Teams, ",")))
		}
	}
}

func keyCommand(g *globals) *cobra.Command {
	var role string
	var teams []string
	create := clientCommand(g, "create NAME", "make an API key; it is shown only once (admin)", []string{"NAME"}, func(s *session, a []string) error {
		k, err := s.c.KeyCreate(s.ctx, &client.KeyRequest{Name: a[0], Role: ovm.Role(role), Teams: teams})
		if err != nil {
			return err
		}
		return s.print(k, func(w *tabwriter.Writer) {
			keyTable(*k)(w)
			fmt.Fprintf(w, "\nkey (shown only now): %s\n", k.Key)
		})
	})
	create.Flags().StringVar(&role, "role", "user", "user or admin")
	create.Flags().StringArrayVar(&teams, "team", nil, "a team of the key (templates' allowed and max_per_team); repeat for several")
	return group("key", "manage API keys (admin)", create,
		clientCommand(g, "list", "list API keys (admin)", nil, func(s *session, _ []string) error {
			page, err := s.c.KeyList(s.ctx, nil)
			if err != nil {
				return err
			}
			return s.print(page, keyTable(page.Items...))
		}),
		clientCommand(g, "revoke ID", "revoke an API key; the last active admin key cannot be revoked (admin)", []string{"ID"},
			func(s *session, a []string) error {
				k, err := s.c.KeyRevoke(s.ctx, a[0])
				if err != nil {
					return err
				}
				return s.print(k, keyTable(*k))
			}))
}
