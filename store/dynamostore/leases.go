package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

func leasePK(id string) string { return "LSE#" + id }

// writeLeaseCopy writes lease l's item: the copy used to find and list
// leases. The account item is the source of truth.
func (s *Store) writeLeaseCopy(ctx context.Context, l *ovm.Lease) error {
	it := item{
		"pk": str(leasePK(l.ID)), "sk": str("L"), "data": str(encodeJSON(l)), "account": str(l.AccountID),
		"owner": str(l.Owner), "state": str(string(l.State)), "pool": str(l.Pool), "lv": num(l.Version),
		"gsi1pk": str("LEASES"), "gsi1sk": str(l.ID)}
	for attr, v := range map[string]string{"team": l.Team, "template": l.Template} {
		if v != "" {
			it[attr] = str(v)
		}
	}
	if l.State == ovm.LeaseEnded { // kept from its end (retention)
		it["gsi2pk"], it["gsi2sk"] = str(retLease), num(l.EndedAt.UnixNano())
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		// Never replace a newer copy with an older one.
		ConditionExpression:       aws.String("attribute_not_exists(lv) OR lv <= :v"),
		ExpressionAttributeValues: item{":v": num(l.Version)}})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// flush writes the pending lease copy and outbox entries of an account
// item, then clears them.
func (s *Store) flush(ctx context.Context, accountID string, it item) error {
	plw, ntf := getS(it, "plw"), getL(it, "ntf")
	if plw == "" && len(ntf) == 0 {
		return nil
	}
	if plw != "" {
		l, err := decodeLease(plw)
		if err != nil {
			return err
		}
		if err := s.writeLeaseCopy(ctx, l); err != nil {
			return err
		}
	}
	if err := s.flushNotifications(ctx, ntf); err != nil {
		return err
	}
	c := &change{set: item{}, remove: []string{"gsi5pk", "gsi5sk"}, values: item{}}
	flushCond(plw, ntf, c)
	_, err := s.apply(ctx, accountPK(accountID), "A", c)
	if errors.Is(err, ovm.ErrConflict) {
		return nil // newer pending writes replaced them; their writer flushes them
	}
	return err
}

// Repair writes the lease copies and outbox entries that a crash left
// pending, and returns how many account items it finished. The engine calls it every tick; it reads a sparse index, so
// it costs nothing when there is nothing to repair.
func (s *Store) Repair(ctx context.Context) (int, error) {
	var dirty []item
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiDirty), KeyConditionExpression: aws.String("gsi5pk = :d"),
		ExpressionAttributeValues: item{":d": str("DIRTY")}}, func(it item) bool { dirty = append(dirty, it); return true })
	if err != nil {
		return 0, err
	}
	for _, it := range dirty {
		a, err := decodeAccount(it)
		if err != nil {
			return 0, err
		}
		if err := s.flush(ctx, a.ID, it); err != nil {
			return 0, err
		}
	}
	return len(dirty), nil
}

// LeaseCreate implements ovm.Store: one conditional write on a ready
// account item moves it to leased with its lease and both events. Under a
// lease limit, the owner's slots are taken first (owners.go).
func (s *Store) LeaseCreate(ctx context.Context, p *ovm.LeaseCreateParams) (_ *ovm.Lease, err error) {
	if p.IdempotencyKey != "" {
		if earlier, ierr := s.idempotent(ctx, p); earlier != nil || ierr != nil {
			return earlier, ierr
		}
		defer func() {
			// Nothing was made: the key is free again. After any other
			// error the lease may have been made; the guard stays, and a
			// retry finds the lease, or takes the guard over once pending.
			if errors.Is(err, ovm.ErrEmpty) || errors.Is(err, ovm.ErrLeaseLimit) || p.Refusal != nil && errors.Is(err, p.Refusal) {
				if rerr := s.releaseIdempotent(ctx, p); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
		}()
	}
	if p.Refusal != nil {
		return nil, p.Refusal
	}
	if p.OwnerLimit > 0 || p.PoolOwnerLimit > 0 {
		all, inPool, err := s.countActive(ctx, p.Owner, p.Pool)
		if err != nil {
			return nil, err
		}
		if p.PoolOwnerLimit > 0 && inPool >= p.PoolOwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases in pool %s: %w", p.Owner, inPool, p.Pool, ovm.ErrPoolLeaseLimit)
		}
		if p.OwnerLimit > 0 && all >= p.OwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases: %w", p.Owner, all, ovm.ErrLeaseLimit)
		}
	}
	// The count above is of an eventually consistent index (it still
	// counts leases that hold no slot: made before their limit was set);
	// the reservation makes the limits exact among concurrent vends.
	reserved, err := s.reserve(ctx, p)
	if err != nil {
		return nil, err
	}
	l, err := s.vend(ctx, p)
	if l == nil && reserved { // no lease was committed: give the slots back
		if rerr := s.release(ctx, p); rerr != nil {
			err = errors.Join(err, rerr) // the reservation lapses: see repair
		}
	}
	return l, err
}

// countActive counts owner's active leases, all and those in pool, with
// one query of the owner's index partition (the filter leaves the scanned
// count whole).
func (s *Store) countActive(ctx context.Context, owner, pool string) (all, inPool int, err error) {
	q := &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(gsiOwner), Select: types.SelectCount,
		KeyConditionExpression: aws.String("gsi4pk = :p"), FilterExpression: aws.String("#pool = :pool"),
		ExpressionAttributeNames:  map[string]string{"#pool": "pool"},
		ExpressionAttributeValues: item{":p": str(ownerPK(owner)), ":pool": str(pool)}}
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return 0, 0, err
		}
		all, inPool = all+int(out.ScannedCount), inPool+int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return all, inPool, nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// vend leases the oldest ready account it can take.
func (s *Store) vend(ctx context.Context, p *ovm.LeaseCreateParams) (*ovm.Lease, error) {
	const candidates = 16
	for round := 0; round < 20; round++ {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(gsiStock),
			KeyConditionExpression:    aws.String("gsi3pk = :p"),
			ExpressionAttributeValues: item{":p": str(p.Pool + "#" + string(ovm.AccountReady))},
			Limit:                     aws.Int32(candidates)})
		if err != nil {
			return nil, err
		}
		if len(out.Items) == 0 {
			return nil, fmt.Errorf("pool %s: %w", p.Pool, ovm.ErrEmpty)
		}
		// The oldest first, the others in random order: concurrent vends
		// spread over the candidates instead of all racing for one.
		items := out.Items
		rest := items[1:]
		rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		if round > 0 {
			rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		}
		for _, it := range items {
			l, err := s.leaseOne(ctx, p, it)
			if errors.Is(err, ovm.ErrConflict) {
				continue
			}
			return l, err
		}
	}
	return nil, fmt.Errorf("pool %s: every ready account was taken concurrently: %w", p.Pool, ovm.ErrEmpty)
}

func (s *Store) leaseOne(ctx context.Context, p *ovm.LeaseCreateParams, it item) (*ovm.Lease, error) {
	a, err := decodeAccount(it)
	if err != nil {
		return nil, err
	}
	if err := s.flush(ctx, a.ID, it); err != nil {
		return nil, err
	}
	l := p.LeaseOf(a)
	u, err := ovm.LeaseAccount(a, l, p.Now)
	if err != nil {
		return nil, ovm.ErrConflict
	}
	c := accountChange(u.Account, l)
	c.expect(u.ExpectState, u.ExpectVersion)
	c.pending(l)
	c.events = []*ovm.Event{u.Event, {Time: p.Now, Kind: ovm.EventLease, AccountID: a.ID, LeaseID: l.ID, Pool: l.Pool,
		Actor: ovm.OwnerActor(p.Owner), From: "", To: string(l.State), Reason: "vended " + a.AWSAccountID}}
	after, err := s.apply(ctx, accountPK(a.ID), "A", withReturn(c))
	if errors.Is(err, errResentRefused) {
		// A resent write whose first attempt was made, and the item changed
		// again since (tokened cannot tell then): the account holds this
		// lease. Taking another account would lease two.
		if now, gerr := s.accountItem(ctx, a.ID); gerr == nil && getS(now, "lid") == l.ID {
			after, err = now, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return l, s.flush(ctx, a.ID, after)
}

func withReturn(c *change) *change {
	c.ret = "ALL_NEW"
	return c
}

// leaseState reads lease id with its account item: the account holds the
// truth while the lease is active or its copy pending.
func (s *Store) leaseState(ctx context.Context, id string) (*ovm.Lease, item, error) {
	it, err := s.get(ctx, leasePK(id), "L")
	if err != nil {
		return nil, nil, err
	}
	if it == nil {
		return nil, nil, fmt.Errorf("lease %s: %w", id, ovm.ErrNotFound)
	}
	acct, err := s.accountItem(ctx, getS(it, "account"))
	if err != nil {
		return nil, nil, err
	}
	for _, attr := range []string{"lease", "plw"} {
		if l, err := decodeLease(getS(acct, attr)); err != nil || l != nil && l.ID == id {
			return l, acct, err
		}
	}
	l, err := decodeLease(getS(it, "data"))
	return l, acct, err
}

// LeaseGet implements ovm.Store.
func (s *Store) LeaseGet(ctx context.Context, id string) (*ovm.Lease, error) {
	l, _, err := s.leaseState(ctx, id)
	return l, err
}

// LeaseList implements ovm.Store.
func (s *Store) LeaseList(ctx context.Context, p *ovm.LeaseListParams) ([]*ovm.Lease, string, error) {
	var filters []string
	names := map[string]string{}
	values := item{}
	for attr, v := range map[string]string{"owner": p.Owner, "state": string(p.State), "pool": p.Pool, "team": p.Team, "template": p.Template} {
		if v != "" {
			filters = append(filters, "#"+attr+" = :"+attr)
			names["#"+attr], values[":"+attr] = attr, str(v)
		}
	}
	var out []*ovm.Lease
	next, err := s.listByID(ctx, "LEASES", p.PageParams, false, filters, names, values, func(it item) error {
		l, err := decodeLease(getS(it, "data"))
		if err == nil {
			out = append(out, l)
		}
		return err
	})
	return out, next, err
}

// LeaseUpdate implements ovm.Store: one conditional write on the account
// item, which holds the active lease: its id, its version and its expiry
// (gsi2sk while leased) in the condition, and the account's state and
// version when the account moves too.
func (s *Store) LeaseUpdate(ctx context.Context, u *ovm.LeaseUpdate) (*ovm.Lease, error) {
	n := u.Lease
	if n.Version != u.ExpectVersion+1 {
		return nil, fmt.Errorf("dynamostore: lease %s: update to version %d from %d", n.ID, n.Version, u.ExpectVersion)
	}
	cur, acct, err := s.leaseState(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	// Only an active lease lives on its account item: an ended one is
	// refused here, before any write.
	if cur.State != u.ExpectState || cur.State != ovm.LeaseActive || getS(acct, "lid") != n.ID {
		return nil, fmt.Errorf("lease %s is %s (%s): %w", n.ID, cur.State, cur.EndReason, ovm.ErrConflict)
	}
	if err := s.flush(ctx, cur.AccountID, acct); err != nil {
		return nil, err
	}
	var c *change
	if u.Account != nil {
		c = accountChange(u.Account.Account, nil)
		if n.State == ovm.LeaseActive {
			c = accountChange(u.Account.Account, n)
		}
		c.expect(u.Account.ExpectState, u.Account.ExpectVersion)
		c.cond += " AND "
	} else {
		c = &change{set: item{"lease": str(encodeJSON(n)), "lv": num(n.Version), "gsi2sk": num(n.ExpiresAt.UnixNano())},
			names: map[string]string{}, values: item{}, lease: n}
	}
	c.cond += "lid = :lid AND lv = :lv"
	c.values[":lid"], c.values[":lv"] = str(n.ID), num(u.ExpectVersion)
	// While leased, gsi2sk is the lease's expiry (accountChange).
	if !u.LiveAt.IsZero() {
		c.cond += " AND gsi2sk > :live"
		c.values[":live"] = num(u.LiveAt.UnixNano())
	}
	if !u.ExpiredAt.IsZero() {
		c.cond += " AND gsi2sk <= :expired"
		c.values[":expired"] = num(u.ExpiredAt.UnixNano())
	}
	c.pending(n)
	c.events = []*ovm.Event{u.Event}
	if u.Also != nil {
		c.events = append(c.events, u.Also)
	}
	if u.Account != nil && u.Account.Event != nil {
		c.events = append(c.events, u.Account.Event)
	}
	after, err := s.apply(ctx, accountPK(n.AccountID), "A", withReturn(c))
	if errors.Is(err, errResentRefused) {
		// A resent write whose first attempt may have been made, and the
		// item changed again since: made if the lease stored at this
		// version is this write's (concurrent writers from the same read
		// make the same version with other contents).
		if l, now, gerr := s.leaseState(ctx, n.ID); gerr == nil && sameLease(l, n) {
			after, err = now, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lease %s changed concurrently: %w", n.ID, ovm.ErrConflict)
	}
	if n.State != ovm.LeaseActive {
		// The owner's slots. The lease has ended whatever this answers: a
		// slot not given back is repaired when the owner reaches a limit.
		s.releaseLease(ctx, n)
	}
	return n.Clone(), s.flush(ctx, n.AccountID, after)
}

// sameLease reports whether a and b are the same version of a lease with
// the same contents that a lease update changes.
func sameLease(a, b *ovm.Lease) bool {
	return a.Version == b.Version && a.State == b.State && a.EndReason == b.EndReason && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.EndedAt.Equal(b.EndedAt) && a.AccessAt.Equal(b.AccessAt) &&
		// A budget's act (its own id) and a freeze tell two writers apart.
		encodeJSON(a.Budget) == encodeJSON(b.Budget) && encodeJSON(a.Frozen) == encodeJSON(b.Frozen)
}

// LeaseListExpired implements ovm.Store.
func (s *Store) LeaseListExpired(ctx context.Context, now time.Time, limit int) ([]*ovm.Lease, error) {
	limit = max(limit, 1)
	var out []*ovm.Lease
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime),
		KeyConditionExpression:    aws.String("gsi2pk = :p AND gsi2sk <= :now"),
		ExpressionAttributeValues: item{":p": str("LEXP"), ":now": num(now.UnixNano())},
		Limit:                     aws.Int32(int32(limit))}, func(it item) bool {
		l, err := decodeLease(getS(it, "lease"))
		if err != nil {
			derr = err
			return false
		}
		if l != nil {
			out = append(out, l)
		}
		return len(out) < limit
	})
	if err == nil {
		err = derr
	}
	return out, err
}
