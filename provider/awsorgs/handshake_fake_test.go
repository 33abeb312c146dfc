package awsorgs

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// handshakes fills moto's gap for burial: moto has no invitations or
// handshakes (InviteAccountToOrganization, AcceptHandshake), so an account
// can never join the graveyard organization there. The fake records the
// invitation and its acceptance, and from then on answers for the joined
// account the graveyard's calls about it (ListParents, MoveAccount,
// DescribeAccount, CloseAccount, PENDING_CLOSURE then SUSPENDED). Every
// other call goes to moto: the client's organization, its members' closure
// and its deletion are moto's.
type handshakes struct {
	mu      sync.Mutex
	invited map[string]string // handshake id -> account
	joined  map[string]*joined
	n       int
}

type joined struct {
	parent string
	state  types.AccountState
	polls  int
}

func newHandshakes() *handshakes {
	return &handshakes{invited: map[string]string{}, joined: map[string]*joined{}}
}

// graveyard wraps the graveyard's moto client.
func (h *handshakes) graveyard(c BuryAPI) BuryAPI { return &graveyardSide{BuryAPI: c, h: h} }

// client wraps a client-side moto client.
func (h *handshakes) client(c BuryAPI) BuryAPI { return &clientSide{BuryAPI: c, h: h} }

type graveyardSide struct {
	BuryAPI
	h *handshakes
}

func (g *graveyardSide) InviteAccountToOrganization(ctx context.Context, in *organizations.InviteAccountToOrganizationInput, _ ...func(*organizations.Options)) (*organizations.InviteAccountToOrganizationOutput, error) {
	g.h.mu.Lock()
	defer g.h.mu.Unlock()
	g.h.n++
	id := fmt.Sprintf("h-%08d", g.h.n)
	g.h.invited[id] = aws.ToString(in.Target.Id)
	return &organizations.InviteAccountToOrganizationOutput{Handshake: &types.Handshake{Id: aws.String(id), State: types.HandshakeStateOpen}}, nil
}

func (g *graveyardSide) member(id *string) *joined {
	g.h.mu.Lock()
	defer g.h.mu.Unlock()
	return g.h.joined[aws.ToString(id)]
}

func (g *graveyardSide) ListParents(ctx context.Context, in *organizations.ListParentsInput, f ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	if j := g.member(in.ChildId); j != nil {
		return &organizations.ListParentsOutput{Parents: []types.Parent{{Id: aws.String(j.parent)}}}, nil
	}
	return g.BuryAPI.ListParents(ctx, in, f...)
}

func (g *graveyardSide) MoveAccount(ctx context.Context, in *organizations.MoveAccountInput, f ...func(*organizations.Options)) (*organizations.MoveAccountOutput, error) {
	if j := g.member(in.AccountId); j != nil {
		g.h.mu.Lock()
		j.parent = aws.ToString(in.DestinationParentId)
		g.h.mu.Unlock()
		return &organizations.MoveAccountOutput{}, nil
	}
	return g.BuryAPI.MoveAccount(ctx, in, f...)
}

func (g *graveyardSide) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, f ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	if j := g.member(in.AccountId); j != nil {
		g.h.mu.Lock()
		defer g.h.mu.Unlock()
		if j.state == types.AccountStatePendingClosure {
			if j.polls--; j.polls < 0 {
				j.state = types.AccountStateSuspended
			}
		}
		return &organizations.DescribeAccountOutput{Account: &types.Account{Id: in.AccountId, State: j.state}}, nil
	}
	return g.BuryAPI.DescribeAccount(ctx, in, f...)
}

func (g *graveyardSide) CloseAccount(ctx context.Context, in *organizations.CloseAccountInput, f ...func(*organizations.Options)) (*organizations.CloseAccountOutput, error) {
	if j := g.member(in.AccountId); j != nil {
		g.h.mu.Lock()
		defer g.h.mu.Unlock()
		if j.state != types.AccountStateActive {
			return nil, &types.AccountAlreadyClosedException{Message: aws.String("closed")}
		}
		j.state, j.polls = types.AccountStatePendingClosure, 1
		return &organizations.CloseAccountOutput{}, nil
	}
	return g.BuryAPI.CloseAccount(ctx, in, f...)
}

type clientSide struct {
	BuryAPI
	h *handshakes
}

func (c *clientSide) AcceptHandshake(ctx context.Context, in *organizations.AcceptHandshakeInput, _ ...func(*organizations.Options)) (*organizations.AcceptHandshakeOutput, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	acct, ok := c.h.invited[aws.ToString(in.HandshakeId)]
	if !ok {
		return nil, &types.HandshakeNotFoundException{Message: aws.String("no such handshake")}
	}
	if c.h.joined[acct] == nil {
		c.h.joined[acct] = &joined{parent: "r-root", state: types.AccountStateActive}
	}
	return &organizations.AcceptHandshakeOutput{Handshake: &types.Handshake{Id: in.HandshakeId, State: types.HandshakeStateAccepted}}, nil
}
