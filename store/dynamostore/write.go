package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// change is one conditional UpdateItem: attributes to set and remove,
// events to append to the item's log, and the condition.
type change struct {
	set    item
	remove []string
	events []*ovm.Event
	cond   string // with #names and :values from condNames/condValues
	names  map[string]string
	values item
	ret    types.ReturnValue
	// acct and lease are the records the write leaves (for the
	// notifications of its events); ntf are the outbox entries to append.
	acct  *ovm.Account
	lease *ovm.Lease
	ntf   types.AttributeValue
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("dynamostore: encode: " + err.Error()) // only plain structs are encoded
	}
	if jsonExtra != nil {
		if extra := jsonExtra(v); len(extra) > 0 {
			var m map[string]any
			json.Unmarshal(b, &m)
			maps.Copy(m, extra)
			b, _ = json.Marshal(m)
		}
	}
	return string(b)
}

// jsonExtra, when set, adds fields to the records written: a test build of
// a "next" version (next_build.go) writes a field this version does not
// know, to show a rolling upgrade keeps it.
var jsonExtra func(v any) map[string]any

// apply runs c on item (pk, sk). A failed condition is reported as
// ErrConflict; the caller tells conflict from absence when it matters.
func (s *Store) apply(ctx context.Context, pk, sk string, c *change) (item, error) {
	c.notifications(pk)
	names := map[string]string{}
	values := item{}
	maps.Copy(names, c.names)
	maps.Copy(values, c.values)
	var sets []string
	keys := make([]string, 0, len(c.set))
	for k := range c.set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		n, v := fmt.Sprintf("#s%d", i), fmt.Sprintf(":s%d", i)
		names[n], values[v] = k, c.set[k]
		sets = append(sets, n+" = "+v)
	}
	if len(c.events) > 0 {
		ev := make([]string, len(c.events))
		for i, e := range c.events {
			ev[i] = encodeJSON(e)
		}
		names["#ev"] = "ev"
		values[":ev"], values[":empty"] = list(ev...), list()
		sets = append(sets, "#ev = list_append(if_not_exists(#ev, :empty), :ev)")
	}
	if c.ntf != nil {
		values[":ntf"], values[":empty"] = c.ntf, list()
		sets = append(sets, "#ntf = list_append(if_not_exists(#ntf, :empty), :ntf)")
	}
	expr := ""
	if len(sets) > 0 {
		expr = "SET " + strings.Join(sets, ", ")
	}
	if len(c.remove) > 0 {
		var rs []string
		for i, r := range c.remove {
			n := fmt.Sprintf("#r%d", i)
			names[n] = r
			rs = append(rs, n)
		}
		expr += " REMOVE " + strings.Join(rs, ", ")
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(pk, sk), UpdateExpression: aws.String(expr),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: c.ret}
	if c.cond != "" {
		in.ConditionExpression = aws.String(c.cond)
	}
	out, err := s.db.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		if errors.Is(err, errResentRefused) {
			return nil, fmt.Errorf("%s changed concurrently: %w", pk, errors.Join(ovm.ErrConflict, errResentRefused))
		}
		return nil, fmt.Errorf("%s changed concurrently: %w", pk, ovm.ErrConflict)
	}
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

func padNS(n int64) string { return fmt.Sprintf("%020d", n) }

// accountChange sets every attribute derived from account a (and its
// active lease l, nil when none). Pending lease copies are left alone.
func accountChange(a *ovm.Account, l *ovm.Lease) *change {
	c := &change{set: item{
		"data": str(encodeJSON(a)), "state": str(string(a.State)), "version": num(a.Version), "pool": str(a.Pool),
		"gsi1pk": str("ACCOUNTS"), "gsi1sk": str(a.ID),
		"gsi3pk": str(a.Pool + "#" + string(a.State)), "gsi3sk": str(padNS(a.StateChangedAt.UnixNano()) + "#" + a.ID),
	}, names: map[string]string{}, values: item{}, acct: a, lease: l}
	if due, ok := a.DueAt(); ok {
		c.set["gsi2pk"], c.set["gsi2sk"] = str("DUE"), num(due.UnixNano())
	} else if l != nil {
		c.set["gsi2pk"], c.set["gsi2sk"] = str("LEXP"), num(l.ExpiresAt.UnixNano())
	} else if a.State.Terminal() { // kept from its closure (retention)
		c.set["gsi2pk"], c.set["gsi2sk"] = str(retAccount), num(a.StateChangedAt.UnixNano())
	} else {
		c.remove = append(c.remove, "gsi2pk", "gsi2sk")
	}
	if l != nil {
		c.set["lease"], c.set["lid"], c.set["lv"] = str(encodeJSON(l)), str(l.ID), num(l.Version)
		c.set["gsi4pk"], c.set["gsi4sk"] = str("OWNER#"+l.Owner), str(a.ID)
	} else {
		c.remove = append(c.remove, "lease", "lid", "lv", "gsi4pk", "gsi4sk")
	}
	return c
}

// pending marks lease copy l as still to be written to its lease item.
func (c *change) pending(l *ovm.Lease) {
	c.set["plw"], c.set["gsi5pk"], c.set["gsi5sk"] = str(encodeJSON(l)), str("DIRTY"), str(l.ID)
	c.lease = l
}

// expect makes c conditional on the account's state and version.
func (c *change) expect(state ovm.AccountState, version int64) {
	c.names["#cst"], c.names["#cver"] = "state", "version"
	c.values[":cst"], c.values[":cver"] = str(string(state)), num(version)
	c.cond = "#cst = :cst AND #cver = :cver"
}

func accountPK(id string) string { return "ACC#" + id }
