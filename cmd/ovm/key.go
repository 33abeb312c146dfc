package main

import (
	"fmt"
	"net/url"
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
		if s.output == "name" { // the id on stdout for scripts; the key, shown once, is not lost
			fmt.Fprintf(s.errOut, "key (shown only now): %s\n", k.Key)
		}
		return s.print(k, func(w *tabwriter.Writer) {
			keyTable(*k)(w)
			fmt.Fprintf(w, "\nkey (shown only now): %s\n", k.Key)
		})
	})
	create.Example = `  ovm key create ci-pipeline --role user          # prints the key once
  ovm key create alice --team platform --team data
  ovm key create ops --role admin -o json | jq -r .key`
	create.Flags().StringVar(&role, "role", "user", "user or admin")
	create.Flags().StringArrayVar(&teams, "team", nil, "a team of the key (templates' allowed and max_per_team); repeat for several")
	list := clientCommand(g, "list", "list API keys (admin)", nil, func(s *session, _ []string) error {
		page, err := s.c.KeyList(s.ctx, nil)
		if err != nil {
			return err
		}
		return s.print(page, keyTable(page.Items...))
	})
	list.Example = "  ovm key list\n  ovm key list -o name"
	revoke := clientCommand(g, "revoke KEY", "revoke an API key by id or name; the last active admin key cannot be revoked (admin)", []string{"KEY"},
		func(s *session, a []string) error {
			id, err := resolveKey(s, a[0])
			if err != nil {
				return err
			}
			k, err := s.c.KeyRevoke(s.ctx, id)
			if err != nil {
				return err
			}
			return s.print(k, keyTable(*k))
		})
	revoke.Example = "  ovm key revoke ci-pipeline\n  ovm key revoke key_0123456789abcdef"
	return group("key", "manage API keys (admin)", create, list, revoke)
}

// resolveKey is the id of the key named by arg: a key id, else the name of
// a key (names are unique in any case; an active key before revoked ones).
func resolveKey(s *session, arg string) (string, error) {
	found := ""
	q := url.Values{"limit": {"1000"}}
	for {
		page, err := s.c.KeyList(s.ctx, q)
		if err != nil {
			return "", err
		}
		for _, k := range page.Items {
			switch {
			case k.ID == arg:
				return k.ID, nil
			case strings.EqualFold(k.Name, arg) && (found == "" || k.RevokedAt == nil):
				found = k.ID
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if found == "" {
		return "", &cliError{exit: exitNotFound, code: "not_found", msg: fmt.Sprintf("no API key has the id or name %q (see ovm key list)", arg)}
	}
	return found, nil
}
