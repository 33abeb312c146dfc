-- Idempotency keys of vends (Idempotency-Key): the same key from the same
-- owner within ovm.IdempotencyWindow returns the first vend's lease.
CREATE TABLE idempotency (
    owner      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    lease_id   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
) STRICT;
CREATE INDEX idempotency_created ON idempotency (created_at);
