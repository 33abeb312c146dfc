-- Leader leases of singleton loops. One process uses a SQLite store, so it
-- always holds them; the table keeps one code path with distributed stores.
CREATE TABLE leaders (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
