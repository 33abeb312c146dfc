-- Lists by state over all pools (GET /v1/accounts?state=ready) and a
-- pool's leases newest first (stock.target: auto reads its history) use an
-- index instead of walking the table in id order.
CREATE INDEX accounts_state_id ON accounts (state, id);
CREATE INDEX leases_pool_id ON leases (pool, id);
