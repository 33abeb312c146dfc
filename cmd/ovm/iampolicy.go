package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/iampolicy"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/signup/setup"
	"github.com/spf13/cobra"
)

// iamPolicyCommand is `ovm iam-policy`: a dry run that prints the
// least-privilege IAM policy of a configuration (package iampolicy).
func iamPolicyCommand(g *globals, stdout io.Writer) *cobra.Command {
	var cfgPath, account string
	c := &cobra.Command{Use: "iam-policy", Short: "print the least-privilege IAM policy OVM's principal needs for a configuration",
		Long: `Prints, as JSON, the IAM policy OVM's own principal needs for the
configuration (--config): only the store, providers, vault and
notification sinks it uses, on the resources it names. Nothing is called.
--account pins OVM's own account in the table's, the vault's and the
management account's ARNs (default: any account, *).`,
		Example: `  ovm iam-policy                                  # the embedded default: needs no permission
  ovm iam-policy --config ovm.yaml --account 111122223333 > ovm-policy.json
  ovm iam-policy --config ovm.yaml -o yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// A policy is a JSON document: a table of it would be a lie.
			if c.Flags().Changed("output") && g.output != "json" && g.output != "yaml" {
				return usagef(c, "--output %q: a policy prints as json (the default) or yaml", g.output)
			}
			if account != "" && !awsAccountID.MatchString(account) {
				return usagef(c, "--account %q is not a 12-digit AWS account id", account)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			p := iampolicy.For(iamPolicyConfig(cfg, account))
			switch n := p.Size(); {
			case len(p.Statement) == 0:
				fmt.Fprintln(c.ErrOrStderr(), "ovm iam-policy: this configuration calls no AWS API; OVM's principal needs no permission")
			case n > iampolicy.ManagedPolicyQuota:
				fmt.Fprintf(c.ErrOrStderr(), "ovm iam-policy: %d characters, above IAM's %d for a managed policy: attach it as an inline policy (%d per role) or split it\n",
					n, iampolicy.ManagedPolicyQuota, iampolicy.InlineRolePolicyQuota)
			}
			if g.output == "yaml" {
				return printYAML(stdout, json.RawMessage(p.JSON()))
			}
			_, err = stdout.Write(p.JSON())
			return err
		}}
	c.Flags().StringVar(&cfgPath, "config", "", "YAML configuration file (default: the embedded default, which needs no AWS)")
	c.Flags().StringVar(&account, "account", "", "OVM's own AWS account id (default: any)")
	return c
}

var awsAccountID = regexp.MustCompile(`^[0-9]{12}$`)

// iamPolicyConfig is what cfg (loaded and validated) uses, as iampolicy
// sees it. The defaults of prefixes the signup channels apply when they
// run are applied here too.
func iamPolicyConfig(cfg *Config, account string) iampolicy.Config {
	out := iampolicy.Config{Partition: ovm.Partition(cfg.AWS.Region), Region: cfg.AWS.Region, Account: account}
	if cfg.Store == "dynamodb" {
		out.DynamoDB = &iampolicy.DynamoDB{Table: cfg.DynamoDB.Table, CreateTable: cfg.DynamoDB.CreateTable}
	}
	for _, p := range cfg.Pools {
		switch k := p.Kind.(type) {
		case *awsorgs.PoolConfig:
			o := k.Organizations
			out.Organizations = append(out.Organizations, iampolicy.OrganizationsPool{Pool: p.Name, CreationRole: o.CreationRole,
				RoleName: o.RoleName, ParentOU: o.ParentOU, RetiringOU: o.RetiringOU, RetiringSCP: o.RetiringSCP,
				BillingContact: o.BillingContact != nil, Guardrails: cfg.guardsPool(p.Name)})
		case *setup.PoolConfig:
			s := k.Signup
			sp := iampolicy.SignupPool{Pool: p.Name, RoleName: p.policy.RoleName, SmokeTest: s.SmokeTest}
			if sp.RoleName == "" {
				sp.RoleName = p.RoleName
			}
			if s.Inbox.S3Bucket != "" {
				sp.Inbox = &iampolicy.S3Location{Bucket: s.Inbox.S3Bucket, Prefix: s.Inbox.S3Prefix}
			}
			if s.Evidence.S3Bucket != "" {
				sp.Evidence = &iampolicy.S3Location{Bucket: s.Evidence.S3Bucket, Prefix: orDefault(s.Evidence.S3Prefix, "evidence/")}
			}
			for _, sv := range s.CaptchaSolvers {
				if t := sv.Transcribe; t != nil {
					sp.Transcribe = append(sp.Transcribe, iampolicy.S3Location{Bucket: t.Bucket, Prefix: orDefault(t.Prefix, "ovm-captcha/")})
				}
			}
			if cc := s.Connect; cc != nil {
				sp.Connect = &iampolicy.Connect{InstanceARN: cc.InstanceARN,
					Prompts: iampolicy.S3Location{Bucket: cc.PromptBucket, Prefix: orDefault(cc.PromptPrefix, "ovm-prompts/")}}
			}
			if s.Burial.Enabled {
				sp.Burial = &iampolicy.Burial{GraveyardOU: s.Burial.GraveyardOU}
			}
			out.Signup = append(out.Signup, sp)
		}
	}
	if sp := cfg.Spend; sp.QueueURL != "" || sp.CostExplorer {
		out.Spend = &iampolicy.Spend{QueueARN: queueARN(sp.QueueURL, out.Partition, cfg.AWS.Region), CostExplorer: sp.CostExplorer}
		if len(out.Signup) > 0 {
			out.Spend.SignupBus = sp.EventBusARN
		}
	}
	if cfg.Secrets.Backend == "secretsmanager" {
		out.SecretsManager = &iampolicy.SecretsManager{Prefix: cfg.Secrets.Prefix, KMSKeyID: cfg.Secrets.KMSKeyID}
	}
	for _, s := range cfg.Notifications.Subscriptions {
		switch {
		case s.SNS != nil:
			out.SNSTopics = append(out.SNSTopics, s.SNS.TopicARN)
		case s.EventBridge != nil:
			out.EventBuses = append(out.EventBuses, orDefault(s.EventBridge.Bus, "default"))
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// queueARN is the ARN of the SQS queue at url (https://sqs.REGION.
// amazonaws.com/ACCOUNT/NAME, or an endpoint's http://HOST/ACCOUNT/NAME,
// whose Region is region's); "" for none.
func queueARN(url, partition, region string) string {
	if url == "" {
		return ""
	}
	rest := url
	if i := strings.Index(url, "://"); i >= 0 {
		rest = url[i+3:]
	}
	host, path, _ := strings.Cut(rest, "/")
	account, name, _ := strings.Cut(path, "/")
	if h := strings.Split(host, "."); len(h) > 2 && h[0] == "sqs" {
		region = h[1]
	}
	return "arn:" + partition + ":sqs:" + region + ":" + account + ":" + name
}
