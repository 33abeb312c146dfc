package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/roleaccess"
	"github.com/ovmdev/ovm/provider/signup"
)

// withAccess is a signup provider that gives access per lease: the
// management account's vended role trusts signup.trusted_principal (OVM's
// own principal), which assumes it for lessees and manages it through a
// session of the role itself (roleaccess.Direct).
type withAccess struct {
	*signup.Provider
	*roleaccess.Direct
	// spend sweeps the account and sets up its spend forwarding (with
	// spend.event_bus_arn).
	spend *spendSetup
}

// SpendSweep implements ovm.SpendSweeper: the priced resources in every
// Region enabled in the management account, listed as an organizations
// pool's are, through a session of the vended role.
func (w withAccess) SpendSweep(ctx context.Context, a *ovm.Account) (*ovm.SpendSweepResult, error) {
	if w.spend == nil {
		return nil, errors.New("signup: no AWS clients to sweep with")
	}
	return awsorgs.SweepAccount(ctx, w.spend.clients, w.spend.home, w.spend.in(a.RoleARN, "ovm-spend-sweep").Credentials)
}

// Bootstrap implements ovm.Provider: the sign-up provider's bootstrap,
// then the account's spend forwarding (it converges when run again).
func (w withAccess) Bootstrap(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	r, err := w.Provider.Bootstrap(ctx, a)
	if err != nil || r.Status != ovm.StepDone || w.spend == nil || w.spend.bus == "" {
		return r, err
	}
	if err := w.spend.setUp(ctx, a.AWSAccountID, r.RoleARN); err != nil {
		return ovm.StepResult{}, fmt.Errorf("the spend forwarding: %w", err)
	}
	r.Report = strings.TrimPrefix(r.Report+"; spend forwarding set up (trail "+SpendTrail+")", "; ")
	return r, nil
}

// Close implements ovm.Provider: the account is taken off OVM's spend bus
// first (its lessee is gone: the revocation came before), then closed.
func (w withAccess) Close(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	if w.spend != nil && w.spend.bus != "" && a.AWSAccountID != "" {
		if err := w.spend.revoke(ctx, a.AWSAccountID); err != nil {
			return ovm.StepResult{}, err
		}
	}
	return w.Provider.Close(ctx, a)
}

// access makes the access part of a signup pool.
func access(ac aws.Config, env provider.Env, sc Config) *roleaccess.Direct {
	base := sts.NewFromConfig(ac)
	var (
		once    sync.Once
		chained bool
	)
	return &roleaccess.Direct{STS: base, AssumeWith: base, Fed: federation.New(env.Federation, nil, env.Log),
		RoleName: env.Pool.RoleName, Trust: []string{sc.TrustedPrincipal}, Region: env.AWSRegion,
		IAMFor: func(creds aws.CredentialsProvider) roleaccess.IAM {
			c := ac.Copy()
			c.Credentials = creds
			return iam.NewFromConfig(c)
		},
		Chained: func() bool {
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if who, err := base.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
					chained = roleaccess.Chained(aws.ToString(who.Arn))
				}
			})
			return chained
		}}
}

// withAccess keeps every capability of the signup provider.
var (
	_ ovm.Access          = withAccess{}
	_ ovm.Guardrailer     = withAccess{}
	_ ovm.Freezer         = withAccess{}
	_ ovm.SpendSweeper    = withAccess{}
	_ ovm.QuotaReporter   = withAccess{}
	_ ovm.CloseLister     = withAccess{}
	_ ovm.ChannelReporter = withAccess{}
	_ ovm.PINSource       = withAccess{}
)
