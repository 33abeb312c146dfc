-- Spend: one ledger per lease (ovm.SpendLedger as JSON), written with a
-- compare-and-set on its version, and in the same write its summary
-- (ovm.SpendSummary), which reports and the spend worker read: listed by
-- lease start, by owner, and while not final.
CREATE TABLE spend_ledgers (
	lease_id    TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	lease_start INTEGER NOT NULL,
	lease_end   INTEGER NOT NULL DEFAULT 0,
	final       INTEGER NOT NULL DEFAULT 0,
	version     INTEGER NOT NULL,
	doc         TEXT NOT NULL,
	summary     TEXT NOT NULL
);
CREATE INDEX spend_ledgers_start ON spend_ledgers (lease_start, lease_id);
CREATE INDEX spend_ledgers_owner ON spend_ledgers (owner, lease_start, lease_id);
CREATE INDEX spend_ledgers_open ON spend_ledgers (lease_start) WHERE final = 0;
CREATE INDEX spend_ledgers_final ON spend_ledgers (lease_end) WHERE final = 1;
