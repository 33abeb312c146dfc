-- Accounts: indexed columns are copies of fields of the JSON record in data.
CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    pool           TEXT NOT NULL,
    state          TEXT NOT NULL,
    version        INTEGER NOT NULL,
    aws_account_id TEXT,
    name           TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL UNIQUE,
    due_at         INTEGER,            -- unix ns when in a working state, else NULL
    created_at     INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL,
    data           TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX accounts_aws_account_id ON accounts (aws_account_id) WHERE aws_account_id IS NOT NULL;
CREATE INDEX accounts_due ON accounts (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX accounts_pool_state ON accounts (pool, state, state_changed_at);
CREATE INDEX accounts_pool_created ON accounts (pool, created_at);

CREATE TABLE leases (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    pool       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    state      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    data       TEXT NOT NULL
) STRICT;
CREATE INDEX leases_expiry ON leases (expires_at) WHERE state = 'active';
CREATE INDEX leases_owner_active ON leases (owner) WHERE state = 'active';
-- Defence in depth: an account never has two active leases.
CREATE UNIQUE INDEX leases_one_active_per_account ON leases (account_id) WHERE state = 'active';

CREATE TABLE api_keys (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
) STRICT;

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    account_id TEXT,
    lease_id   TEXT,
    key_id     TEXT,
    pool       TEXT,
    actor      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL
) STRICT;
CREATE INDEX events_account ON events (account_id, seq) WHERE account_id IS NOT NULL;
CREATE INDEX events_lease ON events (lease_id, seq) WHERE lease_id IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
