package setup

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/provider"
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
	_ ovm.QuotaReporter   = withAccess{}
	_ ovm.CloseLister     = withAccess{}
	_ ovm.ChannelReporter = withAccess{}
	_ ovm.PINSource       = withAccess{}
)
