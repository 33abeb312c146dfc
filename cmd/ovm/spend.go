package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/spend/prices"
	"github.com/spf13/cobra"
)

func spendCommand(g *globals) *cobra.Command {
	var groupBy, from, to string
	report := clientCommand(g, "report", "spend of the leases that ran in a window, grouped (users: their own leases)", nil,
		func(s *session, _ []string) error {
			var f, t time.Time
			var err error
			if f, err = flagTime(from, "--from"); err != nil {
				return err
			}
			if t, err = flagTime(to, "--to"); err != nil {
				return err
			}
			rep, err := s.c.SpendReport(s.ctx, groupBy, f, t)
			if err != nil {
				return err
			}
			return s.print(rep, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s\tLEASES\tUSD\tESTIMATED\tREPORTED\tBILLED (LEASES)\tUNPRICED\n", strings.ToUpper(string(rep.GroupBy)))
				for _, grp := range rep.Groups {
					fmt.Fprintf(w, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f (%d)\t%s\n", orDash(grp.Key), grp.Leases, grp.USD, grp.EstimatedUSD, grp.ReportedUSD,
						grp.BilledUSD, grp.BilledLeases, orDash(strings.Join(grp.Unpriced, ",")))
				}
				fmt.Fprintf(w, "\nfrom %s to %s, as of %s\n", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), rep.AsOf.Format(time.RFC3339))
			})
		})
	report.Example = `  ovm spend report
  ovm spend report --group-by team --from 2026-11-01 --to 2026-12-01
  ovm spend report --group-by owner -o json`
	report.Flags().StringVar(&groupBy, "group-by", "pool", "owner, team, template or pool")
	report.Flags().StringVar(&from, "from", "", "start: RFC 3339 time or date (default 30 days before --to)")
	report.Flags().StringVar(&to, "to", "", "end: RFC 3339 time or date (default now)")
	return group("spend", "what leases cost", report)
}

func flagTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s: %q is neither an RFC 3339 time nor a date (2006-01-02)", name, v)
}

// pricesCommand is `ovm prices`: the price table spend is estimated with.
func pricesCommand() *cobra.Command {
	var cfgPath string
	imp := &cobra.Command{Use: "import FILE...", Short: "update the price table from AWS Price List offer files (docs/spend.md)",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			path := cfg.pricesPath()
			earlier, err := prices.ReadFile(path) // what earlier imports brought stays
			if err != nil {
				return err
			}
			update := &prices.Table{}
			update.Merge(earlier)
			total := 0
			for _, file := range args {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				entries, err := prices.Import(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				update.Merge(entries)
				total += len(entries)
			}
			if err := prices.Save(path, update.Entries(), "written by ovm prices import; laid over the table shipped with the binary"); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%d prices imported into %s; ovm serve reads them at its next start\n", total, path)
			return nil
		}}
	imp.Example = `  ovm prices import AmazonEC2-us-east-1.json --config ovm.yaml
  ovm prices import offers/*.json`
	imp.Flags().StringVar(&cfgPath, "config", "", "YAML configuration file (its data_dir or spend.prices_file)")
	return group("prices", "the price table spend is estimated with", imp)
}
