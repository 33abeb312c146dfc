package sqlitestore

import (
	"context"
	"math"
	"strconv"

	"github.com/ovmdev/ovm"
)

// EventList implements ovm.Store.
func (s *Store) EventList(ctx context.Context, p *ovm.EventListParams) ([]*ovm.Event, string, error) {
	limit := p.EffectiveLimit()
	kind := ovm.EventCursorKind(p)
	var from int64
	if p.Cursor != "" {
		c, err := ovm.DecodeCursor(kind, p.Cursor)
		if err != nil {
			return nil, "", err
		}
		if from, err = strconv.ParseInt(c, 10, 64); err != nil || from < 0 {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in an event list")
		}
	}
	where, id := "account_id = ?", p.AccountID
	switch {
	case p.LeaseID != "":
		where, id = "lease_id = ?", p.LeaseID
	case p.Pool != "":
		where, id = "pool = ? AND account_id IS NULL AND lease_id IS NULL", p.Pool
	}
	if id == "" {
		return nil, "", ovm.Errorf(ovm.EInvalid, "events need an account, lease or pool")
	}
	args := []any{id}
	if p.Kind != "" {
		where += " AND kind = ?"
		args = append(args, p.Kind)
	}
	order := "seq > ? ORDER BY seq"
	if p.Newest {
		order = "seq < ? ORDER BY seq DESC"
		if from == 0 {
			from = math.MaxInt64
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, kind, coalesce(account_id, ''), coalesce(lease_id, ''),
		coalesce(key_id, ''), coalesce(pool, ''), actor, from_state, to_state, reason
		FROM events WHERE `+where+` AND `+order+` LIMIT ?`, append(args, from, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*ovm.Event
	for rows.Next() {
		var e ovm.Event
		var t int64
		if err := rows.Scan(&e.Seq, &t, &e.Kind, &e.AccountID, &e.LeaseID, &e.KeyID, &e.Pool, &e.Actor,
			&e.From, &e.To, &e.Reason); err != nil {
			return nil, "", err
		}
		e.Time = fromNS(t)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	items, next := page(out, limit, kind, func(e *ovm.Event) string { return strconv.FormatInt(e.Seq, 10) })
	return items, next, nil
}
