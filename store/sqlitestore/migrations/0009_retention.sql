-- Retention (ovm.PruneParams): events, ended leases, closed and abandoned
-- accounts and idempotency keys are deleted once the retention no longer
-- keeps them; events stay append-only otherwise (no UPDATE).
DROP TRIGGER events_no_delete;
CREATE INDEX events_time ON events (time);
ALTER TABLE leases ADD COLUMN ended_at INTEGER;
UPDATE leases SET ended_at = CAST(unixepoch(json_extract(data, '$.ended_at')) AS INTEGER) * 1000000000
    WHERE state = 'ended';
CREATE INDEX leases_ended ON leases (ended_at) WHERE state = 'ended';
CREATE INDEX leases_account ON leases (account_id);
CREATE INDEX accounts_terminal ON accounts (state_changed_at) WHERE state IN ('closed', 'abandoned');

-- A vend the stock could not serve is counted per pool, minute and owner
-- (ovm.MissCount), not recorded one event each: the events of misses made
-- so far become counts.
CREATE TABLE misses (
    pool   TEXT    NOT NULL,
    minute INTEGER NOT NULL,
    owner  TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (pool, minute, owner)
) STRICT;
CREATE INDEX misses_minute ON misses (minute);
INSERT INTO misses (pool, minute, owner, count)
    SELECT pool, (time / 60000000000) * 60000000000,
           CASE WHEN actor LIKE 'key:%' THEN substr(actor, 5) ELSE actor END, COUNT(*)
    FROM events WHERE kind = 'miss' AND pool IS NOT NULL
    GROUP BY 1, 2, 3;
DELETE FROM events WHERE kind = 'miss';
