-- Schema version 8 (PostgreSQL): what counts. Each order keeps what RetailCRM says about it besides
-- the mapped fields: its number (as sent, and lower-cased for the search), its status's group,
-- its currency, whether it counts in revenue and profit, and where it came from (RetailCRM's
-- source: source, medium, campaign, keyword, content). A task chooses what counts (counting),
-- which stores it imports (sites) and where its date range ends (backfill_to). RetailCRM's
-- reference (statuses with their groups and names, status groups, stores with names and
-- currencies, the account's default currency) is kept per task with what it makes of each
-- status (classes); recount_pending says the orders have not all been re-evaluated since the
-- classes last changed.
--
-- Orders written before this version count (counted = TRUE) until the task's next run has read
-- the reference and re-evaluated them; that run also re-reads them for the new fields.

ALTER TABLE orders ADD COLUMN order_number TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN number_key TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN status_group TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN currency TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE orders ADD COLUMN utm_source TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN utm_medium TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN utm_campaign TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN utm_keyword TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN utm_content TEXT NOT NULL DEFAULT '';
-- The search by number and by RetailCRM's internal id (q=).
CREATE INDEX orders_counter_number ON orders(counter_id, number_key);
CREATE INDEX orders_counter_crm ON orders(counter_id, crm_id);

ALTER TABLE import_tasks ADD COLUMN counting TEXT NOT NULL DEFAULT '';
ALTER TABLE import_tasks ADD COLUMN sites TEXT NOT NULL DEFAULT '';
ALTER TABLE import_tasks ADD COLUMN backfill_to TEXT NOT NULL DEFAULT '';

CREATE TABLE crm_references (
    task_id         BIGINT PRIMARY KEY REFERENCES import_tasks(id),
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    reference       TEXT NOT NULL,
    classes         TEXT NOT NULL,
    classes_version BIGINT NOT NULL,
    recount_pending BOOLEAN NOT NULL,
    read_at         TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
