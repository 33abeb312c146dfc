package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/ovmdev/ovm"
)

// PoolSamplePut implements ovm.Store.
func (s *Store) PoolSamplePut(ctx context.Context, p *ovm.PoolSample) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO pool_samples (pool, slot, at, ready, target) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pool, slot) DO UPDATE SET at = excluded.at, ready = excluded.ready, target = excluded.target`,
			p.Pool, ovm.SampleSlot(p.At), ns(p.At), p.Ready, p.Target)
		return err
	})
}

// PoolSampleList implements ovm.Store.
func (s *Store) PoolSampleList(ctx context.Context, pool string, since time.Time) ([]*ovm.PoolSample, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, ready, target FROM pool_samples WHERE pool = ? AND at >= ? ORDER BY at`, pool, ns(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ovm.PoolSample
	for rows.Next() {
		p := &ovm.PoolSample{Pool: pool}
		var at int64
		if err := rows.Scan(&at, &p.Ready, &p.Target); err != nil {
			return nil, err
		}
		p.At = fromNS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}
