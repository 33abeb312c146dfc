package awsorgs

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

// BuryAPI is the part of Organizations that burial uses, on both sides:
// the graveyard's management account and the buried account itself.
type BuryAPI interface {
	orgsAPI
	InviteAccountToOrganization(context.Context, *organizations.InviteAccountToOrganizationInput, ...func(*organizations.Options)) (*organizations.InviteAccountToOrganizationOutput, error)
	AcceptHandshake(context.Context, *organizations.AcceptHandshakeInput, ...func(*organizations.Options)) (*organizations.AcceptHandshakeOutput, error)
	DeleteOrganization(context.Context, *organizations.DeleteOrganizationInput, ...func(*organizations.Options)) (*organizations.DeleteOrganizationOutput, error)
}

// Burial retires a vended management account through its cross-account
// role, API first: it closes the members of any Organization the client
// made (quota-aware), deletes that Organization, has OVM's graveyard
// Organization invite the account, accepts the handshake from inside the
// account, moves it to the graveyard OU, and closes it with CloseAccount
// under the graveyard's close ledger. Each phase is stored on the account,
// so a crash resumes where it stopped. Done only when the closure is
// observed.
type Burial struct {
	// Graveyard is the organizations provider of the graveyard: its close
	// ledger, quota and CloseAccount are the burial's last phase.
	Graveyard *Provider
	// GraveyardOrgs acts as the graveyard's management account.
	GraveyardOrgs BuryAPI
	// OU is the graveyard OU buried accounts are moved to ("" = root).
	OU string
	// RoleName is the vended role burial acts through.
	RoleName string
	// ClientOrgs acts in the buried account with creds.
	ClientOrgs func(creds aws.CredentialsProvider) BuryAPI
}

// Burial phases, in order (Progress["burial.phase"]).
const (
	phaseClientOrg = ""
	phaseInvite    = "invite"
	phaseAccept    = "accept"
	phaseMove      = "move"
	phaseClose     = "close"
)

// Bury runs the next phase of a's burial.
func (b *Burial) Bury(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	phase := a.Progress["burial.phase"]
	next := func(p, why string) (ovm.StepResult, error) {
		return ovm.StepResult{Status: ovm.StepPending, Reason: why, Report: "burial: " + why,
			Progress: map[string]string{"burial.phase": p}}, nil
	}
	client := func() BuryAPI {
		return b.ClientOrgs(b.Graveyard.assume(ovm.RoleARN(a.AWSAccountID, b.RoleName), "ovm-burial", b.Graveyard.c.STS))
	}
	switch phase {
	case phaseClientOrg:
		done, why, err := b.emptyClientOrg(ctx, client(), a.AWSAccountID)
		if err != nil || !done {
			if err == nil {
				return ovm.Pending(b.Graveyard.cfg.PollInterval, why), nil
			}
			return ovm.StepResult{}, err
		}
		return next(phaseInvite, why)
	case phaseInvite:
		out, err := b.GraveyardOrgs.InviteAccountToOrganization(ctx, &organizations.InviteAccountToOrganizationInput{
			Target: &types.HandshakeParty{Id: aws.String(a.AWSAccountID), Type: types.HandshakePartyTypeAccount},
			Notes:  aws.String("OVM burial of " + a.ID)})
		if err != nil {
			return ovm.StepResult{}, fmt.Errorf("invite %s to the graveyard: %w", a.AWSAccountID, err)
		}
		r, _ := next(phaseAccept, "invited to the graveyard organization")
		r.Progress["burial.handshake"] = aws.ToString(out.Handshake.Id)
		return r, nil
	case phaseAccept:
		_, err := client().AcceptHandshake(ctx, &organizations.AcceptHandshakeInput{HandshakeId: aws.String(a.Progress["burial.handshake"])})
		var done *types.HandshakeAlreadyInStateException
		if err != nil && !errors.As(err, &done) {
			return ovm.StepResult{}, fmt.Errorf("accept the graveyard's handshake: %w", err)
		}
		return next(phaseMove, "joined the graveyard organization")
	case phaseMove:
		if err := b.Graveyard.ensureOU(ctx, a.AWSAccountID, b.OU); err != nil {
			return ovm.StepResult{}, fmt.Errorf("move to the graveyard OU: %w", err)
		}
		return next(phaseClose, "in the graveyard OU")
	default:
		return b.Graveyard.Close(ctx, a)
	}
}

// emptyClientOrg closes the members of the client's Organization and
// deletes it. It reports done when the account is standalone.
func (b *Burial) emptyClientOrg(ctx context.Context, c BuryAPI, acct string) (bool, string, error) {
	org, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	var notInUse *types.AWSOrganizationsNotInUseException
	if errors.As(err, &notInUse) {
		return true, "the account has no organization of its own", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("describe the client's organization: %w", err)
	}
	if m := aws.ToString(org.Organization.MasterAccountId); m != acct {
		return false, "", fmt.Errorf("account %s is a member of organization %s (management %s): it must leave it first",
			acct, aws.ToString(org.Organization.Id), m)
	}
	open := 0
	pages := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{},
		func(o *organizations.ListAccountsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, "", fmt.Errorf("list the client's accounts: %w", err)
		}
		for _, m := range page.Accounts {
			id := aws.ToString(m.Id)
			if id == acct || m.State == types.AccountStateSuspended || m.State == types.AccountStateClosed {
				continue
			}
			open++
			if m.State == types.AccountStatePendingClosure {
				continue
			}
			_, err := c.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(id)})
			var closed *types.AccountAlreadyClosedException
			var cv *types.ConstraintViolationException
			switch {
			case err == nil, errors.As(err, &closed):
			case errors.As(err, &cv):
				return false, fmt.Sprintf("the client's organization refuses more closures now (%s)", cv.Reason), nil
			default:
				return false, "", fmt.Errorf("close member %s of the client's organization: %w", id, err)
			}
		}
	}
	if open > 0 {
		return false, fmt.Sprintf("closing %d member accounts of the client's organization", open), nil
	}
	_, err = c.DeleteOrganization(ctx, &organizations.DeleteOrganizationInput{})
	var notEmpty *types.OrganizationNotEmptyException
	if errors.As(err, &notEmpty) {
		return false, "the client's organization keeps its closed members until AWS removes them", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("delete the client's organization: %w", err)
	}
	return true, "deleted the client's organization", nil
}
