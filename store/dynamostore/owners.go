package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// The lease limits are exact under concurrency. The owner's item
// OWNER#<owner> / O holds one string set of slots per limit: `res`, the
// owner's leases counted against its limit over all pools, `res#<pool>`,
// those counted against the pool's limit, and `res#t:<template>`, its
// leases of a template. A team's item TEAM#<team> / T holds
// `res#t:<template>`, the team's leases of a template. Before its vend
// write, a vend adds its lease to the owner's sets with ONE conditional
// write (each limited set must be smaller than its limit), so the owner's
// limits are decided at once and a vend refused by one takes no slot of
// another; then to its team's set, giving the owner's back if the team's
// is full. Only limited sets are added to (a pool's own template is
// limited by the pool's set), so a team item is written only for a
// template with max_per_team; a limit set later counts the leases made
// from then on (SQLite counts every active lease). The lease's end takes
// it out of every set. A slot left by a crash (a vend that never wrote, an
// end that never released) is found when a limit is hit: each reservation
// in the item's sets is checked against its lease and dropped from every
// set if the lease ended, or never came to be after reservationGrace.

// reservationGrace is how long a reservation may wait for its lease to
// appear; a vend takes well under a second, and Repair writes a lease's
// pending copy at the next tick.
const reservationGrace = 2 * time.Minute

func ownerPK(owner string) string { return "OWNER#" + owner }

func teamPK(team string) string { return "TEAM#" + team }

// ownerSlots is the owner item's set of slots under its limit over all
// pools; poolSlots(pool) is the set under the pool's limit,
// templateSlots(t) the set of a template's leases (on the owner's item and
// on the team's). Pool and template names never hold '#' or ':'.
const ownerSlots = "res"

func poolSlots(pool string) string { return "res#" + pool }

func templateSlots(t string) string { return "res#t:" + t }

func isSlotSet(attr string) bool { return attr == ownerSlots || strings.HasPrefix(attr, "res#") }

// reservation is the set element of lease id, made at t.
func reservation(id string, t time.Time) string { return id + "@" + strconv.FormatInt(t.Unix(), 10) }

// reserveTries bounds the conditional writes of one reservation: a refused
// write is tried again only when a slot was freed since (by repair or by a
// concurrent end).
const reserveTries = 4

// slotSet is one set of an item a vend adds its lease to; limit 0 counts
// without limiting. full is the error of a vend the set refuses.
type slotSet struct {
	attr  string
	limit int
	full  func(n int) error
}

// slotItem is an item holding slot sets: the owner's or a team's.
type slotItem struct{ pk, sk string }

// ownerSets are the owner item's sets p's vend takes a slot of, in the
// order their refusals are reported (the narrowest limit first).
func ownerSets(p *ovm.LeaseCreateParams) []slotSet {
	var out []slotSet
	if p.Template != "" && p.TemplateOwnerLimit > 0 {
		out = append(out, slotSet{templateSlots(p.Template), p.TemplateOwnerLimit, func(n int) error {
			return fmt.Errorf("%s holds %d active leases of template %s: %w", p.Owner, n, p.Template, ovm.ErrTemplateLeaseLimit)
		}})
	}
	if p.PoolOwnerLimit > 0 {
		out = append(out, slotSet{poolSlots(p.Pool), p.PoolOwnerLimit, func(n int) error {
			return fmt.Errorf("%s holds %d active leases in pool %s: %w", p.Owner, n, p.Pool, ovm.ErrPoolLeaseLimit)
		}})
	}
	if p.OwnerLimit > 0 {
		out = append(out, slotSet{ownerSlots, p.OwnerLimit, func(n int) error {
			return fmt.Errorf("%s holds %d active leases: %w", p.Owner, n, ovm.ErrLeaseLimit)
		}})
	}
	return out
}

// teamSets are the team item's sets p's vend takes a slot of.
func teamSets(p *ovm.LeaseCreateParams) []slotSet {
	if p.Team == "" || p.Template == "" || p.TeamLimit <= 0 {
		return nil
	}
	return []slotSet{{templateSlots(p.Template), p.TeamLimit, func(n int) error {
		return fmt.Errorf("team %s holds %d active leases of template %s: %w", p.Team, n, p.Template, ovm.ErrTeamLeaseLimit)
	}}}
}

// reserve takes lease p.LeaseID's slots: the owner's (one of its
// p.OwnerLimit over all pools, of its p.PoolOwnerLimit in p.Pool, of its
// p.TemplateOwnerLimit of p.Template) and its team's (of p.TeamLimit of
// p.Template), all or none. It reports whether it took any.
func (s *Store) reserve(ctx context.Context, p *ovm.LeaseCreateParams) (bool, error) {
	owner, team := ownerSets(p), teamSets(p)
	if len(owner) > 0 {
		if err := s.reserveOn(ctx, slotItem{ownerPK(p.Owner), "O"}, owner, p); err != nil {
			return false, err
		}
	}
	if len(team) > 0 {
		if err := s.reserveOn(ctx, slotItem{teamPK(p.Team), "T"}, team, p); err != nil {
			if len(owner) > 0 {
				if rerr := s.drop(ctx, slotItem{ownerPK(p.Owner), "O"}, reservation(p.LeaseID, p.Now), attrs(owner)); rerr != nil {
					err = errors.Join(err, rerr) // the reservation lapses: see repair
				}
			}
			return false, err
		}
	}
	return len(owner)+len(team) > 0, nil
}

func attrs(sets []slotSet) []string {
	out := make([]string, len(sets))
	for i, set := range sets {
		out[i] = set.attr
	}
	return out
}

// reserveOn adds p's lease to sets of item it with one conditional write.
func (s *Store) reserveOn(ctx context.Context, it slotItem, sets []slotSet, p *ovm.LeaseCreateParams) error {
	var adds, conds []string
	names := map[string]string{}
	values := item{":e": &types.AttributeValueMemberSS{Value: []string{reservation(p.LeaseID, p.Now)}}}
	for i, set := range sets {
		n := fmt.Sprintf("#s%d", i)
		names[n] = set.attr
		adds = append(adds, n+" :e")
		if set.limit > 0 {
			v := fmt.Sprintf(":l%d", i)
			values[v] = num(int64(set.limit))
			conds = append(conds, fmt.Sprintf("(attribute_not_exists(%s) OR size(%s) < %s)", n, n, v))
		}
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(it.pk, it.sk),
		UpdateExpression: aws.String("ADD " + strings.Join(adds, ", ")), ExpressionAttributeNames: names, ExpressionAttributeValues: values}
	if len(conds) > 0 {
		in.ConditionExpression = aws.String(strings.Join(conds, " AND "))
	}
	repaired := false
	for range reserveTries {
		_, err := s.db.UpdateItem(ctx, in)
		if !isConditionFailed(err) {
			return err
		}
		got, err := s.get(ctx, it.pk, it.sk)
		if err != nil {
			return err
		}
		if holds(got, sets, p) {
			return nil // a resent write whose first attempt was made (see tokened)
		}
		full := limitReached(got, sets)
		if full != nil && repaired {
			return full
		}
		if full != nil {
			repaired = true
			freed, err := s.repair(ctx, it, got, p.Now)
			if err != nil {
				return err
			}
			if freed == 0 {
				return full
			}
		}
		// A slot was freed since the write was refused: try again.
	}
	return fmt.Errorf("%s: the lease slots changed under %d tries: %w", it.pk, reserveTries, ovm.ErrLeaseLimit)
}

// holds reports whether item it holds p's lease in every one of sets.
func holds(it item, sets []slotSet, p *ovm.LeaseCreateParams) bool {
	e := reservation(p.LeaseID, p.Now)
	for _, set := range sets {
		if held, ok := it[set.attr].(*types.AttributeValueMemberSS); !ok || !slices.Contains(held.Value, e) {
			return false
		}
	}
	return true
}

// limitReached is the refusal of the first of sets that item it has
// filled, nil if none.
func limitReached(it item, sets []slotSet) error {
	for _, set := range sets {
		n := 0
		if held, ok := it[set.attr].(*types.AttributeValueMemberSS); ok {
			n = len(held.Value)
		}
		if set.limit > 0 && n >= set.limit {
			return set.full(n)
		}
	}
	return nil
}

// release gives back the slots of lease l (or of the vend p that made
// it): the owner's and its team's. Releasing a slot that is not held
// changes nothing.
func (s *Store) release(ctx context.Context, p *ovm.LeaseCreateParams) error {
	e := reservation(p.LeaseID, p.Now)
	err := s.drop(ctx, slotItem{ownerPK(p.Owner), "O"}, e, []string{ownerSlots, poolSlots(p.Pool), templateSlots(p.Template)})
	if len(teamSets(p)) > 0 {
		err = errors.Join(err, s.drop(ctx, slotItem{teamPK(p.Team), "T"}, e, []string{templateSlots(p.Template)}))
	}
	return err
}

// releaseLease is release for lease l.
func (s *Store) releaseLease(ctx context.Context, l *ovm.Lease) error {
	p := &ovm.LeaseCreateParams{LeaseID: l.ID, Now: l.CreatedAt, Owner: l.Owner, Pool: l.Pool, Template: l.Template, Team: l.Team}
	if l.Terms != nil { // the team's limit the vend was under
		p.TeamLimit = l.Terms.MaxPerTeam
	}
	return s.release(ctx, p)
}

// drop takes element e out of item it's slot sets attrs, in one write.
// DELETE of an absent set changes nothing; the condition keeps an absent
// item from being created.
func (s *Store) drop(ctx context.Context, it slotItem, e string, attrs []string) error {
	names := map[string]string{}
	var dels, exists []string
	for i, attr := range attrs {
		n := fmt.Sprintf("#s%d", i)
		names[n] = attr
		dels = append(dels, n+" :e")
		exists = append(exists, "attribute_exists("+n+")")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(it.pk, it.sk),
		UpdateExpression:          aws.String("DELETE " + strings.Join(dels, ", ")),
		ConditionExpression:       aws.String(strings.Join(exists, " OR ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: item{":e": &types.AttributeValueMemberSS{Value: []string{e}}}})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// repair drops the reservations of slot item si (read as it) whose lease ended,
// or never appeared within reservationGrace, from every slot set that
// holds them, and returns how many it dropped. It reads each reserved
// lease once (two consistent reads), whichever sets hold it.
func (s *Store) repair(ctx context.Context, si slotItem, it item, now time.Time) (int, error) {
	holders := map[string][]string{} // reservation -> the sets holding it
	for attr, v := range it {
		if set, ok := v.(*types.AttributeValueMemberSS); ok && isSlotSet(attr) {
			for _, e := range set.Value {
				holders[e] = append(holders[e], attr)
			}
		}
	}
	freed := 0
	for e, attrs := range holders {
		id, ts, _ := strings.Cut(e, "@")
		unix, _ := strconv.ParseInt(ts, 10, 64)
		l, _, err := s.leaseState(ctx, id)
		switch {
		case errors.Is(err, ovm.ErrNotFound) && now.Sub(time.Unix(unix, 0)) < reservationGrace:
			continue // a vend in flight
		case errors.Is(err, ovm.ErrNotFound):
		case err != nil:
			return freed, err
		case l.State == ovm.LeaseActive:
			continue
		}
		if err := s.drop(ctx, si, e, attrs); err != nil {
			return freed, err
		}
		freed++
	}
	return freed, nil
}
