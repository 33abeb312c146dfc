package signup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/internal/accesstest"
	"github.com/ovmdev/ovm/internal/federationtest"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/provider/roleaccess"
	"github.com/ovmdev/ovm/provider/signup"
)

// motoConsole is the console's "Quick create stack" on moto: the replica's
// new account gets its vended role in moto (whose STS assumes a role of
// any account), trusted by the stack's principal as the template makes it.
type motoConsole struct{ cfg aws.Config }

func (c motoConsole) CreateRole(acct, role, principal string) error {
	ctx := context.Background()
	im := iam.NewFromConfig(inAccount(c.cfg, acct))
	_, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), MaxSessionDuration: aws.Int32(3600),
		AssumeRolePolicyDocument: aws.String(roleaccess.TrustPolicy(principal))})
	return err
}

// inAccount is cfg acting in account acct, as its
// OrganizationAccountAccessRole (moto does not check that it exists).
func inAccount(cfg aws.Config, acct string) aws.Config {
	c := cfg.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		ovm.RoleARN(acct, "OrganizationAccountAccessRole")))
	return c
}

// failingIAM fails the next trust update when told: the first call of a
// revocation.
type failingIAM struct {
	roleaccess.IAM
	next *failures
}

func (f failingIAM) UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, o ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error) {
	if f.next.take("revoke") {
		return nil, errors.New("injected transient failure")
	}
	return f.IAM.UpdateAssumeRolePolicy(ctx, in, o...)
}

type failures struct {
	mu   sync.Mutex
	next map[string]bool
	// wrongAccount makes the smoke test land in another account.
	wrongAccount bool
}

func (f *failures) take(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.next[op]
	delete(f.next, op)
	return t
}

// withAccess is the signup provider with the access of its pools, as
// provider/signup/setup composes them: ovm.Access only here. The vended
// role's guardrails (roleaccess.Direct's ovm.Guardrailer) do not depend on
// how the account was made: they take the suite's guard cases in
// provider/roleaccess (providertest.RunGuard) on moto, where an account
// costs no sign-up in a browser.
type withAccess struct {
	*signup.Provider
	ovm.Access
}

// TestConformanceOnTheReplica runs the provider conformance suite on the
// sign-up replica in a real Chromium, with the vended roles in moto: the
// steps, and ovm.Access as a signup pool has it (roleaccess.Direct:
// sessions from moto's STS, sign-in through the federation stand-in). The
// provider has no ovm.Cleaner: management accounts are closed, never
// recycled.
func TestConformanceOnTheReplica(t *testing.T) {
	const trusted = "arn:aws:iam::123456789012:root"
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		fail := &failures{next: map[string]bool{}}
		w := newWorldVia(t, "4111 1111 1111 1111", viaS3, func(w *world) {
			w.rep.Console = motoConsole{w.moto}
			w.tune = func(d *signup.Deps) {
				d.SmokeTest = func(ctx context.Context, roleARN string) (string, error) {
					fail.mu.Lock()
					wrong := fail.wrongAccount
					fail.mu.Unlock()
					if wrong {
						return "999999999999", nil
					}
					c := w.moto.Copy()
					c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(w.moto), roleARN))
					out, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
					if err != nil {
						return "", err
					}
					return aws.ToString(out.Account), nil
				}
			}
		})
		ctx := context.Background()
		fed := federationtest.New(t)
		fed.Valid = func(c federationtest.Credentials) bool {
			_, err := accesstest.Account(ctx, w.moto, &ovm.Credentials{AccessKeyID: c.ID, SecretAccessKey: c.Key, SessionToken: c.Token})
			return err == nil
		}
		base := sts.NewFromConfig(w.moto)
		access := &roleaccess.Direct{STS: base, AssumeWith: base, RoleName: ovm.DefaultRoleName, Trust: []string{trusted}, Region: "us-east-1",
			Fed: federation.New(federation.Config{Endpoint: fed.Endpoint()}, nil, slog.New(slog.NewTextHandler(io.Discard, nil))),
			IAMFor: func(creds aws.CredentialsProvider) roleaccess.IAM {
				c := w.moto.Copy()
				c.Credentials = creds
				return failingIAM{IAM: iam.NewFromConfig(c), next: fail}
			}}
		member := func(a *ovm.Account) *iam.Client { return iam.NewFromConfig(inAccount(w.moto, a.AWSAccountID)) }
		return &providertest.Harness{
			Provider: withAccess{w.prov, access},
			// The provider waits for outside events (an e-mail's code) on
			// the wall clock and polls for them: a short sleep and another
			// call is what the engine's next tick does.
			Advance:  func(d time.Duration) { time.Sleep(min(d, 250*time.Millisecond)) },
			MaxPolls: 200,
			FailNext: func(op string) {
				switch op {
				case "create":
					w.rep.FailOnce("start")
				case "bootstrap":
					w.rep.FailOnce("billing")
				case "close":
					w.rep.FailOnce("tax")
				default:
					fail.mu.Lock()
					fail.next[op] = true
					fail.mu.Unlock()
				}
			},
			FailDefinitively: func(op, reason string) {
				if op == "bootstrap" {
					fail.mu.Lock()
					fail.wrongAccount = reason != ""
					fail.mu.Unlock()
				}
			},
			NoDefinitive: map[string]string{"create": "every error of a sign-up page is transient: the engine retries " +
				"the step and then quarantines the account, since a half-made account may exist"},
			Access: &providertest.AccessHarness{
				Now: time.Now, // moto issues sessions by the wall clock
				Trusted: func(ctx context.Context, a *ovm.Account) ([]string, error) {
					return accesstest.Trusted(ctx, member(a), ovm.DefaultRoleName)
				},
				Denied: func(ctx context.Context, a *ovm.Account, issued time.Time) (bool, error) {
					return accesstest.Denied(ctx, member(a), ovm.DefaultRoleName, issued)
				},
				Account: func(ctx context.Context, c *ovm.Credentials) (string, error) {
					return accesstest.Account(ctx, w.moto, c)
				},
				SignIn: fed.SignIn,
			},
		}
	})
}
