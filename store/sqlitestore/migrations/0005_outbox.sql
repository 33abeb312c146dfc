-- The notification outbox: one row per notification, written in the same
-- transaction as the change it reports (or by the engine, for notifications
-- derived from durable state). due_at is set while pending only.
CREATE TABLE deliveries (
    id      TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    version INTEGER NOT NULL,
    due_at  INTEGER,            -- unix ns while pending, else NULL
    data    TEXT NOT NULL
) STRICT;
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_state ON deliveries (state, id);
