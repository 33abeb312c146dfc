package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

func ns(t time.Time) int64 { return t.UnixNano() }

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func decodeAccount(data string) (*ovm.Account, error) {
	var a ovm.Account
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return nil, fmt.Errorf("sqlitestore: decode account: %w", err)
	}
	return &a, nil
}

func decodeLease(data string) (*ovm.Lease, error) {
	var l ovm.Lease
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return nil, fmt.Errorf("sqlitestore: decode lease: %w", err)
	}
	return &l, nil
}

func decodeKey(data string) (*ovm.APIKey, error) {
	var k ovm.APIKey
	if err := json.Unmarshal([]byte(data), &k); err != nil {
		return nil, fmt.Errorf("sqlitestore: decode key: %w", err)
	}
	return &k, nil
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sqlitestore: encode: " + err.Error()) // only plain structs are encoded
	}
	return string(b)
}

// scanAll reads one JSON column per row and decodes it.
func scanAll[T any](rows *sql.Rows, decode func(string) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		v, err := decode(data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// page trims items to limit and returns the cursor (of list kind) of the
// next page.
func page[T any](items []T, limit int, kind ovm.CursorKind, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, ovm.EncodeCursor(kind, key(items[limit-1]))
}

// listPage runs one page of a list: table's rows by id (ascending, or
// descending when desc), after the cursor, with equality filters (empty
// values ignored), decoded.
func listPage[T any](ctx context.Context, s *Store, table string, kind ovm.CursorKind, p ovm.PageParams, desc bool, filters [][2]string,
	decode func(string) (T, error), id func(T) string) ([]T, string, error) {
	limit := p.EffectiveLimit()
	q := `SELECT data FROM ` + table + ` WHERE 1=1`
	var args []any
	if p.Cursor != "" {
		last, err := ovm.DecodeCursor(kind, p.Cursor)
		if err != nil {
			return nil, "", err
		}
		if desc {
			q += ` AND id < ?`
		} else {
			q += ` AND id > ?`
		}
		args = append(args, last)
	}
	for _, f := range filters {
		if f[1] != "" {
			q += ` AND ` + f[0] + ` = ?`
			args = append(args, f[1])
		}
	}
	order := " ORDER BY id"
	if desc {
		order += " DESC"
	}
	q += order + ` LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	items, err := scanAll(rows, decode)
	if err != nil {
		return nil, "", err
	}
	items, next := page(items, limit, kind, id)
	return items, next, nil
}
