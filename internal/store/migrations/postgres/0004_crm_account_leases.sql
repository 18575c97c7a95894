-- Schema version 4 (PostgreSQL): one lease per RetailCRM account. With several worker
-- processes only the holder talks to the account, so its rate limit (counted by RetailCRM per
-- account) holds across processes. A released lease keeps its owner and the time it ended:
-- the next holder, if it runs in another process, waits out the previous holder's last second.

CREATE TABLE crm_account_leases (
    account_url TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    prev_owner  TEXT NOT NULL,
    prev_until  TIMESTAMPTZ
);
