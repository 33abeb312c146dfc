package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// access returns the Access capability of l's pool and l's account, after
// checking that l is active and holds the account now.
func (e *Engine) access(ctx context.Context, l *ovm.Lease) (ovm.Access, *ovm.Account, error) {
	now := e.clock.Now()
	if l.State != ovm.LeaseActive {
		return nil, nil, ovm.Errorf(ovm.EConflict, "lease %s has ended (%s): it gives no access any more", l.ID, l.EndReason)
	}
	if l.Frozen != nil {
		return nil, nil, ovm.ErrFrozen(l)
	}
	if !now.Before(l.ExpiresAt) {
		return nil, nil, ovm.Errorf(ovm.EConflict, "lease %s expired at %s: it gives no access any more", l.ID, l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p := e.pools[l.Pool]
	if p == nil {
		return nil, nil, ovm.Errorf(ovm.EConflict, "lease %s belongs to pool %q, which is no longer configured", l.ID, l.Pool)
	}
	acc, ok := p.Provider.(ovm.Access)
	if !ok {
		return nil, nil, ovm.Errorf(ovm.EConflict, "pool %q's provider (%s) gives no access per lease: use the role %s", l.Pool, p.Policy.Provider, l.RoleARN)
	}
	a, err := e.store.AccountGet(ctx, l.AccountID)
	if err != nil {
		return nil, nil, err
	}
	if a.State != ovm.AccountLeased || a.LeaseID != l.ID {
		return nil, nil, ovm.Errorf(ovm.EConflict, "lease %s no longer holds account %s", l.ID, l.AccountID)
	}
	if !ovm.Guarded(a) {
		return nil, nil, &ovm.Error{Code: ovm.EUnavailable, RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("lease %s's guardrails are not in place yet: it gives no access before they are", l.ID)}
	}
	return acc, a, nil
}

// Credentials issues temporary credentials of lease l's account to its
// lessee: a session of the vended role that ends no later than the lease
// (but lasts at least STS's 15 minutes; the revocation at the lease's end
// denies it then). actor is who asked. The issue is an event on the lease
// (who, when, until), never the secret; without the event, no credentials.
func (e *Engine) Credentials(ctx context.Context, l *ovm.Lease, actor string) (*ovm.Credentials, error) {
	c, _, err := e.credentials(ctx, l, actor, "credentials")
	return c, err
}

func (e *Engine) credentials(ctx context.Context, l *ovm.Lease, actor, what string) (*ovm.Credentials, ovm.Access, error) {
	acc, a, err := e.access(ctx, l)
	if err != nil {
		return nil, nil, err
	}
	unlock := e.issues.lock(l.ID)
	defer unlock()
	if err := e.issueRate(ctx, l); err != nil {
		return nil, nil, err
	}
	if l, err = e.markAccess(ctx, l, what, actor); err != nil {
		return nil, nil, err
	}
	now := e.clock.Now()
	c, err := acc.Credentials(ctx, a, ovm.SessionRequest{LeaseID: l.ID, Owner: l.Owner, Duration: l.ExpiresAt.Sub(now)})
	if err != nil {
		return nil, nil, RefusedByAWS(fmt.Sprintf("assume %s for lease %s", l.RoleARN, l.ID), err)
	}
	// The lease may have ended while STS answered. A session issued
	// before its end is denied by the revocation; one issued after is not:
	// look again, and hand out nothing once it has ended.
	cur, err := e.store.LeaseGet(ctx, l.ID)
	if err != nil {
		return nil, nil, err
	}
	if cur.Frozen != nil {
		return nil, nil, ovm.ErrFrozen(cur) // frozen while they were made: the freeze denies them on AWS
	}
	if cur.State != ovm.LeaseActive || !e.clock.Now().Before(cur.ExpiresAt) {
		return nil, nil, ovm.Errorf(ovm.EConflict, "lease %s ended while its %s were made: it gives no access any more", l.ID, what)
	}
	ev := &ovm.Event{Time: now, Kind: ovm.EventAccess, AccountID: l.AccountID, LeaseID: l.ID, Pool: l.Pool, Actor: actor,
		From: string(l.State), To: string(l.State),
		Reason: fmt.Sprintf("%s issued to %s: session %s (key %s) until %s", what, actor, c.SessionName, c.AccessKeyID,
			c.Expiration.UTC().Format(time.RFC3339))}
	if err := e.store.EventAppend(ctx, ev); err != nil {
		return nil, nil, fmt.Errorf("record the issue of %s: %w", what, err)
	}
	e.log.Info(what+" issued", ovm.LogLeaseID, l.ID, ovm.LogAccountID, l.AccountID, ovm.LogPool, l.Pool,
		"actor", actor, "session", c.SessionName, "expires_at", c.Expiration)
	return c, acc, nil
}

// issueRate refuses an issue of access by lease l beyond its rate: at most
// AccessConfig.Issues in any AccessConfig.Window, counted from the lease's
// own events in the store (every replica counts the same). A storm of
// issues cannot grow the log without bound, nor hide the lease's end
// behind it (the log reads newest first). The caller holds the lease's
// issue lock until the issue's event is written, so parallel requests to
// one replica cannot all pass the count; requests spread over R replicas
// can issue at most R times the limit in a window.
func (e *Engine) issueRate(ctx context.Context, l *ovm.Lease) error {
	n, window := e.cfg.Access.Issues, e.cfg.Access.Window
	recent, _, err := e.store.EventList(ctx, &ovm.EventListParams{LeaseID: l.ID, Kind: ovm.EventAccess, Newest: true,
		PageParams: ovm.PageParams{Limit: n}})
	if err != nil {
		return err
	}
	if len(recent) < n {
		return nil
	}
	free := recent[n-1].Time.Add(window)
	if now := e.clock.Now(); now.Before(free) {
		return &ovm.Error{Code: ovm.ELimitExceeded, RetryAfter: max(free.Sub(now), time.Second),
			Message: fmt.Sprintf("lease %s issued access %d times within %s, the api.access_issues limit: reuse the credentials you have (they last until the lease ends), or retry later", l.ID, n, window)}
	}
	return nil
}

// markAccess records, before lease l gives access for the first time, that
// it does (ovm.MarkLeaseAccess): from then on it cannot be refused and its
// account must be retired. A lease already marked is returned as it is.
func (e *Engine) markAccess(ctx context.Context, l *ovm.Lease, what, actor string) (*ovm.Lease, error) {
	for attempt := 0; l.AccessAt.IsZero(); attempt++ {
		u, err := ovm.MarkLeaseAccess(l, what, actor, e.clock.Now())
		if err != nil {
			return nil, err
		}
		n, err := e.store.LeaseUpdate(ctx, u)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, ovm.ErrConflict) || attempt == 3 {
			return nil, err
		}
		if l, err = e.store.LeaseGet(ctx, l.ID); err != nil { // extended or marked meanwhile: read it again
			return nil, err
		}
	}
	return l, nil
}

// ConsoleURL returns an AWS console sign-in URL for lease l, landing on
// destination ("" for the console's home). The destination must be a page
// of the AWS console (ovm.CheckConsoleDestination).
// It returns the URL and the session's credentials (never to be shown).
func (e *Engine) ConsoleURL(ctx context.Context, l *ovm.Lease, actor, destination string) (string, *ovm.Credentials, error) {
	if err := ovm.CheckConsoleDestination(destination); err != nil {
		return "", nil, err
	}
	c, acc, err := e.credentials(ctx, l, actor, "console sign-in")
	if err != nil {
		return "", nil, err
	}
	u, err := acc.ConsoleURL(ctx, c, destination, l.ExpiresAt.Sub(e.clock.Now()))
	if err != nil {
		return "", nil, RefusedByAWS("console sign-in for lease "+l.ID, err)
	}
	return u, c, nil
}

// CheckPrincipal validates a lease's own principal before a vend: an IAM
// role or user ARN in the partition of the pool's accounts (read from one
// of its ready accounts), so that a principal IAM would refuse does not
// cost an account.
func (e *Engine) CheckPrincipal(ctx context.Context, pool, arn string) error {
	role := ""
	if accts, _, err := e.store.AccountList(ctx, &ovm.AccountListParams{Pool: pool, State: ovm.AccountReady,
		PageParams: ovm.PageParams{Limit: 1}}); err == nil && len(accts) == 1 {
		role = accts[0].RoleARN
	}
	return ovm.CheckPrincipalARN(arn, role)
}

// GivesAccess reports whether pool's provider gives access per lease.
func (e *Engine) GivesAccess(pool string) bool {
	p := e.pools[pool]
	if p == nil {
		return false
	}
	_, ok := p.Provider.(ovm.Access)
	return ok
}

// Grant adds lease l's own principal to its account's vended role. It is
// called once the lease is made; a lease without a principal needs none.
func (e *Engine) Grant(ctx context.Context, l *ovm.Lease) error {
	if l.Principal == "" {
		return nil
	}
	acc, a, err := e.access(ctx, l)
	if err != nil {
		return err
	}
	if err := acc.Grant(ctx, a, l.Principal); err != nil {
		return RefusedByAWS(fmt.Sprintf("trust %s in %s for lease %s", l.Principal, l.RoleARN, l.ID), err)
	}
	// The trust is access: from now on the lease is not undone by putting
	// its account back in stock.
	_, err = e.markAccess(ctx, l, "principal "+l.Principal+" trusted for the lease", ovm.ActorEngine)
	return err
}

// RefusedByAWS is a failed call to AWS for a lessee: 503, retry later, with
// what AWS said (its messages name resources, never a secret; the
// federation client strips its URL, which holds credentials). A policy IAM
// refuses (a principal that does not exist) is the request's fault: 400,
// retrying will not help.
func RefusedByAWS(what string, err error) error {
	if ovm.ErrorCodeOf(err) != ovm.EInternal {
		return err
	}
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) && ae.ErrorCode() == "MalformedPolicyDocument" {
		return &ovm.Error{Code: ovm.EInvalid, Message: what + ": IAM refused it: " + err.Error()}
	}
	e := ovm.Errorf(ovm.EUnavailable, "%s: %w", what, refusal{err})
	e.RetryAfter = 5 * time.Second
	return e
}

// refusal marks an error as AWS's answer to a call made for a lessee.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// AWSRefused reports whether err is AWS refusing a call made for a lessee
// (a 503 that is not empty stock: the vend's metrics count it an error).
func AWSRefused(err error) bool {
	var r refusal
	return errors.As(err, &r)
}
