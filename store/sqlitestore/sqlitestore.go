// Package sqlitestore is the embedded OVM store: one SQLite file (pure Go,
// no cgo) in WAL mode, with embedded migrations.
//
// It serves one process. Open takes an exclusive lock next to the database,
// so a second `ovm serve` on the same data directory fails fast, and claims
// and leader leases left behind by an earlier process (killed mid-step) are
// released at once instead of lapsing. All writes go through a single connection (SQLite
// allows one writer anyway); reads use a pool of connections.
//
// Every state change is a compare-and-set on (state, version) and appends its
// event in the same transaction, so the event log never disagrees with the
// records.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ovmdev/ovm"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of ovm.Store.
type Store struct {
	w, r *sql.DB
	lock *os.File
	// vends feeds the group-commit batcher (LeaseCreate); closed stops it.
	vends       chan *vendReq
	closed      chan struct{}
	batcherDone chan struct{}
	closeOnce   sync.Once
	batching    bool   // the batcher runs (Open succeeded)
	path        string // the database file, for messages
}

var _ ovm.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("sqlitestore: %s is in use by another process: %w", path, err)
	}
	// The database holds key hashes and account e-mails: owner-only. SQLite
	// gives its -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	s := &Store{path: path, lock: lock, vends: make(chan *vendReq), closed: make(chan struct{}), batcherDone: make(chan struct{})}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	if s.w, err = sql.Open("sqlite", dsn+"&_txlock=immediate"); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.r, err = sql.Open("sqlite", dsn+"&mode=ro"); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	s.r.SetMaxOpenConns(8)
	if err := s.releaseClaims(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.batching = true
	go s.vendBatches()
	return s, nil
}

// Close closes the database and releases the lock.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.batching {
			<-s.batcherDone
		}
	})
	var errs []error
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY) STRICT`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	versions := make([]int, len(names))
	for i, name := range names {
		if versions[i], err = strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0]); err != nil {
			return fmt.Errorf("sqlitestore: migration %s: bad name", name)
		}
	}
	// A database a newer OVM migrated is refused before anything is
	// written: this binary would not keep the rules of the newer schema,
	// and no migration is ever undone.
	var have int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("sqlitestore: read schema version: %w", err)
	}
	if know := versions[len(versions)-1]; have > know {
		return &ovm.NewerSchemaError{Store: "sqlitestore: " + s.path, Have: int64(have), Know: int64(know)}
	}
	for i, name := range names {
		v := versions[i]
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil || n > 0 {
				return err
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: migration %s: %w", name, err)
		}
	}
	return nil
}

// releaseClaims clears every claim (of accounts and of outbox entries)
// and drops every leader lease: with the
// exclusive lock held, no other live process can own one, and a process
// that was killed (or stopped without releasing) must not keep this one
// from planning until its lease expires.
func (s *Store) releaseClaims(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leaders`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT data FROM accounts WHERE due_at IS NOT NULL`)
		if err != nil {
			return err
		}
		accts, err := scanAll(rows, decodeAccount)
		if err != nil {
			return err
		}
		for _, a := range accts {
			if a.ClaimedBy == "" && a.ClaimedUntil.IsZero() {
				continue
			}
			a.ClaimedBy, a.ClaimedUntil = "", time.Time{}
			if err := writeAccount(ctx, tx, a, a.State, a.Version); err != nil {
				return err
			}
		}
		return releaseDeliveryClaims(ctx, tx)
	})
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing if fn
// returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}

// isConstraint reports whether err is a UNIQUE or PRIMARY KEY violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}
