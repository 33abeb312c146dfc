-- Spend: one ledger per lease (ovm.SpendLedger as JSON), written with a
-- compare-and-set on its version; listed by lease start for reports, and
-- while not final by the spend worker.
CREATE TABLE spend_ledgers (
	lease_id    TEXT PRIMARY KEY,
	lease_start INTEGER NOT NULL,
	lease_end   INTEGER NOT NULL DEFAULT 0,
	final       INTEGER NOT NULL DEFAULT 0,
	version     INTEGER NOT NULL,
	doc         TEXT NOT NULL
);
CREATE INDEX spend_ledgers_start ON spend_ledgers (lease_start, lease_id);
CREATE INDEX spend_ledgers_open ON spend_ledgers (lease_start) WHERE final = 0;
