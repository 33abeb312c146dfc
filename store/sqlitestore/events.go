package sqlitestore

import (
	"context"
	"strconv"

	"github.com/ovmdev/ovm"
)

// EventList implements ovm.Store.
func (s *Store) EventList(ctx context.Context, p *ovm.EventListParams) ([]*ovm.Event, string, error) {
	limit := p.EffectiveLimit()
	var after int64
	if p.Cursor != "" {
		c, err := ovm.DecodeCursor(ovm.CursorEvents, p.Cursor)
		if err != nil {
			return nil, "", err
		}
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
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
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, kind, coalesce(account_id, ''), coalesce(lease_id, ''),
		coalesce(key_id, ''), coalesce(pool, ''), actor, from_state, to_state, reason
		FROM events WHERE `+where+` AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit+1)
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
	items, next := page(out, limit, ovm.CursorEvents, func(e *ovm.Event) string { return strconv.FormatInt(e.Seq, 10) })
	return items, next, nil
}
