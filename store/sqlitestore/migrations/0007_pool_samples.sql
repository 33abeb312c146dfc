-- A day of each pool's ready stock, for the web console's chart: a ring of
-- ovm.SampleSlots rows per pool, each sample replacing the one a day older.
CREATE TABLE pool_samples (
    pool   TEXT    NOT NULL,
    slot   INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    ready  INTEGER NOT NULL,
    target INTEGER NOT NULL,
    PRIMARY KEY (pool, slot)
);
