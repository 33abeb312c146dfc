package sim

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ovmdev/ovm"
)

// SimulatedConsole is the host of the console URLs the simulation hands
// out: a reserved name (RFC 2606) that resolves nowhere.
const SimulatedConsole = "console.simulated.ovm.invalid"

// maxSession is the simulated vended role's longest session, as
// bootstrapped roles have.
const maxSession = time.Hour

// Credentials implements ovm.Access with credentials that are plainly
// simulated: the key id starts ASIASIM, the secret and the token say so,
// and they open nothing. The session is at most an hour (the role's
// maximum) and at least 15 minutes (STS's minimum), as with AWS.
func (p *Provider) Credentials(ctx context.Context, a *ovm.Account, r ovm.SessionRequest) (*ovm.Credentials, error) {
	unlock, err := p.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := p.access(a); err != nil {
		return nil, err
	}
	d := min(max(r.Duration, ovm.MinSessionDuration), maxSession)
	return &ovm.Credentials{AccessKeyID: "ASIASIM" + randHex(14), SecretAccessKey: "simulated-secret-" + randHex(24),
		SessionToken: "simulated-session-token-" + randHex(48), Expiration: p.clock.Now().Add(d).UTC().Truncate(time.Second),
		Region: "us-east-1", SessionName: ovm.SessionName(r.Owner), SourceIdentity: ovm.SourceIdentity(r.Owner), Simulated: true}, nil
}

// access checks that a's simulated role can be reached (hooks and the
// failure dice apply).
func (p *Provider) access(a *ovm.Account) error {
	if r, err := p.begin(OpAccess, a); err != nil || r != nil {
		if err == nil {
			err = fmt.Errorf("sim: %s", deref(r).Reason)
		}
		return err
	}
	if sa := p.byID[a.AWSAccountID]; sa == nil || sa.State != StateActive || sa.RoleARN == "" {
		return fmt.Errorf("sim: aws account %q has no vended role to assume", a.AWSAccountID)
	}
	return nil
}

// ConsoleURL implements ovm.Access with a URL on SimulatedConsole.
func (p *Provider) ConsoleURL(ctx context.Context, c *ovm.Credentials, destination string, _ time.Duration) (string, error) {
	if !c.Simulated {
		return "", fmt.Errorf("sim: credentials are not simulated")
	}
	q := url.Values{"simulated": {"true"}, "session": {c.SessionName}}
	if destination != "" {
		q.Set("destination", destination)
	}
	return (&url.URL{Scheme: "https", Host: SimulatedConsole, Path: "/federation", RawQuery: q.Encode()}).String(), nil
}

// Grant implements ovm.Access: the simulated role trusts principal.
func (p *Provider) Grant(ctx context.Context, a *ovm.Account, principal string) error {
	unlock, err := p.enter()
	if err != nil {
		return err
	}
	defer unlock()
	if err := p.access(a); err != nil {
		return err
	}
	sa := p.byID[a.AWSAccountID]
	if !slices.Contains(sa.Trust, principal) {
		sa.Trust = append(sa.Trust, principal)
	}
	return p.save()
}

// Revoke implements ovm.Access: sessions issued before r.Before are
// denied and the trust is back to the pool's own.
func (p *Provider) Revoke(ctx context.Context, a *ovm.Account, r ovm.Revocation) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if res, err := p.begin(OpRevoke, a); res != nil || err != nil {
		return deref(res), err
	}
	sa := p.lookup(a)
	if sa == nil {
		return ovm.Failed(fmt.Sprintf("aws account %q is unknown", a.AWSAccountID)), nil
	}
	// As on AWS: the deny names whole seconds, rounded up.
	before := r.Before.UTC().Truncate(time.Second)
	if !before.Equal(r.Before.UTC()) {
		before = before.Add(time.Second)
	}
	if before.After(sa.DenyBefore) {
		sa.DenyBefore = before
	}
	sa.Trust = nil
	sa.Revocations++
	res := ovm.StepResult{Status: ovm.StepDone,
		Report: "sessions issued before " + before.Format(time.RFC3339) + " denied, trust reset"}
	return p.end(OpRevoke, res)
}

// Session reports whether a session of the simulated account awsID issued
// at issued is still allowed (no deny covers it).
func (p *Provider) Session(awsID string, issued time.Time) bool {
	for _, a := range p.Accounts() {
		if a.ID == awsID {
			return !issued.Before(a.DenyBefore)
		}
	}
	return false
}
