package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// writeAccount stores a (insert when expectVersion is 0, else a
// compare-and-set on expectState/expectVersion).
func writeAccount(ctx context.Context, tx *sql.Tx, a *ovm.Account, expectState ovm.AccountState, expectVersion int64) error {
	var due any
	if t, ok := a.DueAt(); ok {
		due = ns(t)
	}
	if expectVersion == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts
			(id, pool, state, version, aws_account_id, name, email, due_at, created_at, state_changed_at, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Pool, a.State, a.Version, nullable(a.AWSAccountID), a.Name, a.Email, due,
			ns(a.CreatedAt), ns(a.StateChangedAt), encode(a))
		if isConstraint(err) {
			return fmt.Errorf("account %s: id, name or e-mail taken: %w", a.ID, ovm.ErrConflict)
		}
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET state = ?, version = ?, aws_account_id = ?,
		due_at = ?, state_changed_at = ?, data = ? WHERE id = ? AND state = ? AND version = ?`,
		a.State, a.Version, nullable(a.AWSAccountID), due, ns(a.StateChangedAt), encode(a),
		a.ID, expectState, expectVersion)
	if isConstraint(err) {
		return fmt.Errorf("account %s: aws account id %s belongs to another account: %w", a.ID, a.AWSAccountID, ovm.ErrConflict)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, a.ID).Scan(&exists); err != nil {
		return err
	}
	if exists == 0 {
		return fmt.Errorf("account %s: %w", a.ID, ovm.ErrNotFound)
	}
	return fmt.Errorf("account %s is no longer %s v%d: %w", a.ID, expectState, expectVersion, ovm.ErrConflict)
}

func insertEvent(ctx context.Context, tx *sql.Tx, e *ovm.Event) error {
	if e == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events
		(time, kind, account_id, lease_id, key_id, pool, actor, from_state, to_state, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ns(e.Time), e.Kind, nullable(e.AccountID), nullable(e.LeaseID), nullable(e.KeyID), nullable(e.Pool),
		e.Actor, e.From, e.To, e.Reason)
	if err != nil {
		return err
	}
	return notify(ctx, tx, e)
}

func applyUpdate(ctx context.Context, tx *sql.Tx, u *ovm.AccountUpdate) error {
	if u.Account.Version != u.ExpectVersion+1 {
		return fmt.Errorf("sqlitestore: account %s: update to version %d from %d", u.Account.ID, u.Account.Version, u.ExpectVersion)
	}
	if err := writeAccount(ctx, tx, u.Account, u.ExpectState, u.ExpectVersion); err != nil {
		return err
	}
	return insertEvent(ctx, tx, u.Event)
}

// AccountInsert implements ovm.Store.
func (s *Store) AccountInsert(ctx context.Context, a *ovm.Account, actor string) error {
	if a.Version != 1 || a.State != ovm.AccountPending {
		return ovm.Errorf(ovm.EInvalid, "account %s: new accounts are pending v1, not %s v%d", a.ID, a.State, a.Version)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := writeAccount(ctx, tx, a, "", 0); err != nil {
			return err
		}
		return insertEvent(ctx, tx, &ovm.Event{Time: a.CreatedAt, Kind: ovm.EventAccount, AccountID: a.ID,
			Pool: a.Pool, Actor: actor, From: "", To: string(a.State), Reason: "reserved " + a.Email})
	})
}

// AccountGet implements ovm.Store.
func (s *Store) AccountGet(ctx context.Context, id string) (*ovm.Account, error) {
	return getAccount(ctx, s.r, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getAccount(ctx context.Context, q querier, id string) (*ovm.Account, error) {
	col := "id"
	if ovm.IsAWSAccountID(id) {
		col = "aws_account_id"
	}
	var data string
	err := q.QueryRowContext(ctx, `SELECT data FROM accounts WHERE `+col+` = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account %s: %w", id, ovm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeAccount(data)
}

// AccountUpdate implements ovm.Store.
func (s *Store) AccountUpdate(ctx context.Context, u *ovm.AccountUpdate) (*ovm.Account, error) {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return applyUpdate(ctx, tx, u) }); err != nil {
		return nil, err
	}
	return u.Account.Clone(), nil
}

// AccountList implements ovm.Store.
func (s *Store) AccountList(ctx context.Context, p *ovm.AccountListParams) ([]*ovm.Account, string, error) {
	return listPage(ctx, s, "accounts", ovm.CursorAccounts, p.PageParams, false, [][2]string{{"pool", p.Pool}, {"state", string(p.State)}},
		decodeAccount, func(a *ovm.Account) string { return a.ID })
}

// AccountListDue implements ovm.Store.
func (s *Store) AccountListDue(ctx context.Context, p *ovm.AccountListDueParams) ([]*ovm.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM accounts WHERE due_at IS NOT NULL AND due_at <= ?
		ORDER BY due_at LIMIT ?`, ns(p.Now), max(p.Limit, 1))
	if err != nil {
		return nil, err
	}
	return scanAll(rows, decodeAccount)
}

// PoolCounts implements ovm.Store.
func (s *Store) PoolCounts(ctx context.Context, pool string) (*ovm.PoolCounts, error) {
	c := &ovm.PoolCounts{ByState: map[ovm.AccountState]int{}}
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM accounts WHERE pool = ?
		AND state IN ('pending','creating','bootstrapping','ready','leased','cleaning','closing','quarantined')
		GROUP BY state`, pool)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		c.ByState[ovm.AccountState(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(created_at) FROM accounts WHERE pool = ?`, pool).Scan(&last); err != nil {
		return nil, err
	}
	if last.Valid {
		c.LastCreatedAt = fromNS(last.Int64)
	}
	return c, nil
}

// AccountImport stores accounts in any state in one transaction, each with
// an "imported" event. It is for migrating accounts that exist already (and
// for seeding benchmarks); ErrConflict if any id, name, e-mail or AWS id is
// taken, in which case nothing is stored.
func (s *Store) AccountImport(ctx context.Context, accts []*ovm.Account, actor string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, a := range accts {
			if !a.State.Valid() || a.Version < 1 {
				return ovm.Errorf(ovm.EInvalid, "account %s: invalid state %q or version %d", a.ID, a.State, a.Version)
			}
			if err := writeAccount(ctx, tx, a, "", 0); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, &ovm.Event{Time: a.UpdatedAt, Kind: ovm.EventAccount, AccountID: a.ID,
				Pool: a.Pool, Actor: actor, From: "", To: string(a.State), Reason: "imported"}); err != nil {
				return err
			}
		}
		return nil
	})
}

// AccountCountSince implements ovm.Store.
func (s *Store) AccountCountSince(ctx context.Context, pool string, state ovm.AccountState, since time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE pool = ? AND state = ? AND state_changed_at >= ?`,
		pool, state, ns(since)).Scan(&n)
	return n, err
}
