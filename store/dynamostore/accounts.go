package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

func decodeAccount(it item) (*ovm.Account, error) {
	var a ovm.Account
	if err := json.Unmarshal([]byte(getS(it, "data")), &a); err != nil {
		return nil, fmt.Errorf("dynamostore: decode account: %w", err)
	}
	return &a, nil
}

func decodeLease(s string) (*ovm.Lease, error) {
	if s == "" {
		return nil, nil
	}
	var l ovm.Lease
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("dynamostore: decode lease: %w", err)
	}
	return &l, nil
}

// AccountInsert implements ovm.Store.
func (s *Store) AccountInsert(ctx context.Context, a *ovm.Account, actor string) error {
	if a.Version != 1 || a.State != ovm.AccountPending {
		return ovm.Errorf(ovm.EInvalid, "account %s: new accounts are pending v1, not %s v%d", a.ID, a.State, a.Version)
	}
	return s.insertAccount(ctx, a, &ovm.Event{Time: a.CreatedAt, Kind: ovm.EventAccount, AccountID: a.ID, Pool: a.Pool,
		Actor: actor, From: "", To: string(a.State), Reason: "reserved " + a.Email})
}

// insertAccount claims the account's unique values, then writes the item
// if its id is free.
func (s *Store) insertAccount(ctx context.Context, a *ovm.Account, e *ovm.Event) error {
	for _, m := range []string{"EMAIL#" + a.Email, "NAME#" + a.Name} {
		if err := s.claimMarker(ctx, m, a.ID); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
	}
	if a.AWSAccountID != "" {
		if err := s.claimMarker(ctx, "AWSID#"+a.AWSAccountID, a.ID); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
	}
	c := accountChange(a, nil)
	c.events = []*ovm.Event{e}
	c.set["evbase"] = num(0)
	c.cond = "attribute_not_exists(pk)"
	if _, err := s.apply(ctx, accountPK(a.ID), "A", c); err != nil {
		return fmt.Errorf("account %s: id taken: %w", a.ID, err)
	}
	// The pool's newest creation, for the planner's spacing.
	_, err := s.apply(ctx, "POOL#"+a.Pool, "P", &change{set: item{"last_created": num(a.CreatedAt.UnixNano())},
		cond: "attribute_not_exists(last_created) OR last_created < :t", values: item{":t": num(a.CreatedAt.UnixNano())}})
	if errors.Is(err, ovm.ErrConflict) {
		err = nil // a newer one is recorded
	}
	return err
}

// AccountImport stores accounts in any state, each with an "imported"
// event (for migrations and benchmarks); ErrConflict if a unique value is
// taken. Accounts are written one by one, not atomically as a batch.
func (s *Store) AccountImport(ctx context.Context, accts []*ovm.Account, actor string) error {
	for _, a := range accts {
		if !a.State.Valid() || a.Version < 1 {
			return ovm.Errorf(ovm.EInvalid, "account %s: invalid state %q or version %d", a.ID, a.State, a.Version)
		}
		if err := s.insertAccount(ctx, a, &ovm.Event{Time: a.UpdatedAt, Kind: ovm.EventAccount, AccountID: a.ID,
			Pool: a.Pool, Actor: actor, From: "", To: string(a.State), Reason: "imported"}); err != nil {
			return err
		}
	}
	return nil
}

// accountItem reads an account's item by OVM id, or nil.
func (s *Store) accountItem(ctx context.Context, id string) (item, error) {
	return s.get(ctx, accountPK(id), "A")
}

// AccountGet implements ovm.Store.
func (s *Store) AccountGet(ctx context.Context, id string) (*ovm.Account, error) {
	ovmID := id
	if ovm.IsAWSAccountID(id) {
		owner, err := s.marker(ctx, "AWSID#"+id)
		if err != nil {
			return nil, err
		}
		ovmID = owner
	}
	if ovmID == "" {
		return nil, fmt.Errorf("account %s: %w", id, ovm.ErrNotFound)
	}
	it, err := s.accountItem(ctx, ovmID)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("account %s: %w", id, ovm.ErrNotFound)
	}
	a, err := decodeAccount(it)
	if err == nil && ovm.IsAWSAccountID(id) && a.AWSAccountID != id {
		return nil, fmt.Errorf("account %s: %w", id, ovm.ErrNotFound) // a marker whose claim never completed
	}
	return a, err
}

// AccountUpdate implements ovm.Store.
func (s *Store) AccountUpdate(ctx context.Context, u *ovm.AccountUpdate) (*ovm.Account, error) {
	a := u.Account
	if a.Version != u.ExpectVersion+1 {
		return nil, fmt.Errorf("dynamostore: account %s: update to version %d from %d", a.ID, a.Version, u.ExpectVersion)
	}
	if a.AWSAccountID != "" && a.State != u.ExpectState {
		if err := s.claimMarker(ctx, "AWSID#"+a.AWSAccountID, a.ID); err != nil {
			return nil, fmt.Errorf("account %s: aws account id %s belongs to another account: %w", a.ID, a.AWSAccountID, ovm.ErrConflict)
		}
	}
	var l *ovm.Lease
	if a.State == ovm.AccountLeased {
		// Engine and operator updates never move a leased account; keep its
		// lease as it is by reading it.
		it, err := s.accountItem(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if l, err = decodeLease(getS(it, "lease")); err != nil {
			return nil, err
		}
	}
	c := accountChange(a, l)
	c.expect(u.ExpectState, u.ExpectVersion)
	if u.Event != nil {
		c.events = []*ovm.Event{u.Event}
	}
	after, err := s.apply(ctx, accountPK(a.ID), "A", c)
	if err != nil {
		return nil, s.conflictOrMissing(ctx, a.ID, u.ExpectState, u.ExpectVersion, err)
	}
	// The update is done; its outbox entries are in the item, and a flush
	// that fails here is finished by Repair.
	_ = s.flush(ctx, a.ID, after)
	if a.Version%50 == 0 {
		s.rotateEvents(ctx, a.ID) // best effort: keeps the item small
	}
	return a.Clone(), nil
}

// conflictOrMissing tells a lost compare-and-set from a missing account.
func (s *Store) conflictOrMissing(ctx context.Context, id string, state ovm.AccountState, version int64, err error) error {
	if !errors.Is(err, ovm.ErrConflict) {
		return err
	}
	it, gerr := s.accountItem(ctx, id)
	if gerr == nil && it == nil {
		return fmt.Errorf("account %s: %w", id, ovm.ErrNotFound)
	}
	return fmt.Errorf("account %s is no longer %s v%d: %w", id, state, version, ovm.ErrConflict)
}

// AccountList implements ovm.Store.
func (s *Store) AccountList(ctx context.Context, p *ovm.AccountListParams) ([]*ovm.Account, string, error) {
	var filters []string
	values := item{}
	names := map[string]string{}
	if p.Pool != "" {
		filters, values[":pool"], names["#pool"] = append(filters, "#pool = :pool"), str(p.Pool), "pool"
	}
	if p.State != "" {
		filters, values[":state"], names["#state"] = append(filters, "#state = :state"), str(string(p.State)), "state"
	}
	var out []*ovm.Account
	next, err := s.listByID(ctx, "ACCOUNTS", p.PageParams, true, filters, names, values, func(it item) error {
		a, err := decodeAccount(it)
		if err == nil {
			out = append(out, a)
		}
		return err
	})
	return out, next, err
}

// AccountListDue implements ovm.Store.
func (s *Store) AccountListDue(ctx context.Context, p *ovm.AccountListDueParams) ([]*ovm.Account, error) {
	limit := max(p.Limit, 1)
	var out []*ovm.Account
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime),
		KeyConditionExpression:    aws.String("gsi2pk = :p AND gsi2sk <= :now"),
		ExpressionAttributeValues: item{":p": str("DUE"), ":now": num(p.Now.UnixNano())},
		Limit:                     aws.Int32(int32(limit))}, func(it item) bool {
		a, err := decodeAccount(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, a)
		return len(out) < limit
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// PoolCounts implements ovm.Store.
func (s *Store) PoolCounts(ctx context.Context, pool string) (*ovm.PoolCounts, error) {
	c := &ovm.PoolCounts{ByState: map[ovm.AccountState]int{}}
	for _, st := range ovm.AccountStates {
		if st.Terminal() {
			continue
		}
		n, err := s.count(ctx, gsiStock, "gsi3pk = :p", item{":p": str(pool + "#" + string(st))})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			c.ByState[st] = n
		}
	}
	it, err := s.get(ctx, "POOL#"+pool, "P")
	if err != nil {
		return nil, err
	}
	if t := getN(it, "last_created"); t != 0 {
		c.LastCreatedAt = fromNS(t)
	}
	return c, nil
}

// AccountCountSince implements ovm.Store with a COUNT query of the stock
// index's partition of that state.
func (s *Store) AccountCountSince(ctx context.Context, pool string, state ovm.AccountState, since time.Time) (int, error) {
	return s.count(ctx, gsiStock, "gsi3pk = :p AND gsi3sk >= :since",
		item{":p": str(pool + "#" + string(state)), ":since": str(padNS(since.UnixNano()))})
}
