-- Closure requests per AWS organization, for the rolling close quota.
CREATE TABLE close_ledger (
    ledger         TEXT NOT NULL,
    aws_account_id TEXT NOT NULL,
    at             INTEGER NOT NULL,
    data           TEXT NOT NULL,
    PRIMARY KEY (ledger, aws_account_id)
) STRICT;
CREATE INDEX close_ledger_at ON close_ledger (ledger, at);
-- Pool events that name no account (drift reports).
CREATE INDEX events_pool_only ON events (pool, seq) WHERE account_id IS NULL AND lease_id IS NULL;
