package setup

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/awsconnect"
	"github.com/ovmdev/ovm/provider/signup/imapinbox"
	"github.com/ovmdev/ovm/provider/signup/s3bucket"
	"github.com/ovmdev/ovm/provider/signup/transcribesolver"
	"github.com/ovmdev/ovm/provider/signup/twocaptcha"
	"github.com/ovmdev/ovm/vault"
)

// build makes a signup pool's provider.
func build(ctx context.Context, env provider.Env, sc Config) (*signup.Provider, error) {
	ac, err := env.AWS(ctx)
	if err != nil {
		return nil, err
	}
	v, err := env.Vault(ctx)
	if err != nil {
		return nil, err
	}
	pol, clock, log := env.Pool, env.Clock, env.Log
	newS3 := func() *s3.Client {
		return s3.NewFromConfig(ac, func(o *s3.Options) { o.UsePathStyle = env.AWSEndpoint != "" })
	}
	key := "signup." // serve prefixes the pool's name
	fields := []*string{&sc.Contact.FullName, &sc.Contact.Company, &sc.Contact.Phone, &sc.Contact.Country, &sc.Contact.Address,
		&sc.Contact.City, &sc.Contact.State, &sc.Contact.PostalCode, &sc.Card.Number, &sc.Card.Month, &sc.Card.Year, &sc.Card.Holder}
	names := []string{"contact.full_name", "contact.company", "contact.phone", "contact.country", "contact.address",
		"contact.city", "contact.state", "contact.postal_code", "card.number", "card.month", "card.year", "card.holder"}
	for i, f := range fields {
		val, err := vault.Resolve(ctx, v, key+names[i], *f)
		if err != nil {
			return nil, err
		}
		*f = val
	}
	var solvers []signup.CaptchaSolver
	for j, s := range sc.CaptchaSolvers {
		switch {
		case s.Human:
			solvers = append(solvers, signup.HumanSolver{})
		case s.Transcribe != nil:
			solvers = append(solvers, &transcribesolver.Solver{Transcribe: transcribe.NewFromConfig(ac), S3: newS3(),
				Bucket: s.Transcribe.Bucket, Prefix: s.Transcribe.Prefix, Language: s.Transcribe.Language})
		case s.TwoCaptcha != nil:
			k, err := vault.Resolve(ctx, v, fmt.Sprintf("%scaptcha_solvers[%d].twocaptcha.key", key, j), s.TwoCaptcha.Key)
			if err != nil {
				return nil, err
			}
			solvers = append(solvers, &twocaptcha.Solver{URL: s.TwoCaptcha.URL, Key: k, For: s.For})
		default:
			solvers = append(solvers, &signup.CommandSolver{Command: s.Command, For: s.For})
		}
	}
	if len(solvers) == 0 {
		solvers = []signup.CaptchaSolver{signup.HumanSolver{}}
	}
	var inbox signup.Inbox = s3bucket.NewInbox(newS3(), sc.Inbox.S3Bucket, sc.Inbox.S3Prefix)
	if m := sc.Inbox.IMAP; m != nil {
		pw, err := vault.Resolve(ctx, v, key+"inbox.imap.password", m.Password)
		if err != nil {
			return nil, err
		}
		inbox = &imapinbox.Inbox{Address: m.Address, Username: m.Username, Password: pw, Mailbox: m.Mailbox,
			Security: imapinbox.Security(m.Security)}
	}
	deps := signup.Deps{
		Inbox:   inbox,
		Solvers: solvers, Phones: signup.NewPhonePool(sc.PhoneNumbers), Vault: v, Clock: clock, Log: log,
	}
	if e := sc.Evidence; e.S3Bucket != "" {
		prefix := e.S3Prefix
		if prefix == "" {
			prefix = "evidence/"
		}
		deps.Evidence = &s3bucket.Evidence{Client: newS3(), Bucket: e.S3Bucket, Prefix: prefix}
	}
	if cc := sc.Connect; cc != nil {
		an := &awsconnect.Answerer{Connect: connect.NewFromConfig(ac), S3: newS3(), InstanceARN: cc.InstanceARN,
			Bucket: cc.PromptBucket, Prefix: cc.PromptPrefix, Numbers: sc.PhoneNumbers, AnswerDelay: cc.AnswerDelay, Log: log}
		if err := an.Setup(ctx); err != nil {
			return nil, fmt.Errorf("%sconnect: %w", key, err)
		}
		deps.Answerer = an
	}
	if sc.SmokeTest {
		base := sts.NewFromConfig(ac)
		deps.SmokeTest = func(ctx context.Context, roleARN string) (string, error) {
			c := ac.Copy()
			c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(base, roleARN))
			out, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.Account), nil
		}
	}
	if sc.Burial.Enabled {
		clients := awsorgs.NewClients(ac)
		graveyard, err := awsorgs.New(awsorgs.Config{Pool: pol.Name, EmailTemplate: "graveyard+{id}@invalid.example",
			CloseQuota: sc.Burial.CloseQuota}, clients, env.Store, clock, log)
		if err != nil {
			return nil, fmt.Errorf("burial: %w", err)
		}
		b := &awsorgs.Burial{Graveyard: graveyard, GraveyardOrgs: organizations.NewFromConfig(ac), OU: sc.Burial.GraveyardOU,
			RoleName: pol.RoleName, ClientOrgs: func(creds aws.CredentialsProvider) awsorgs.BuryAPI {
				c := ac.Copy()
				c.Credentials = creds
				return organizations.NewFromConfig(c)
			}}
		deps.Bury, deps.Graveyard = b.Bury, graveyard
	}
	return signup.New(signup.Config{Pool: pol.Name, BaseURL: sc.BaseURL, FlowFile: sc.FlowFile, Chromium: sc.Chromium,
		DataDir: filepath.Join(env.DataDir, "signup", pol.Name), EmailTemplate: sc.EmailTemplate, NamePrefix: sc.NamePrefix,
		RoleName: pol.RoleName, TrustedPrincipal: sc.TrustedPrincipal, PageTimeout: sc.PageTimeout,
		Contact: signup.Contact{FullName: sc.Contact.FullName, Company: sc.Contact.Company, Phone: sc.Contact.Phone,
			Country: sc.Contact.Country, Address: sc.Contact.Address, City: sc.Contact.City, State: sc.Contact.State,
			PostalCode: sc.Contact.PostalCode},
		Card:    signup.Card{Number: sc.Card.Number, Month: sc.Card.Month, Year: sc.Card.Year, Holder: sc.Card.Holder},
		Billing: signup.Billing{Currency: sc.Billing.Currency, Email: sc.Billing.Email}}, deps)
}
