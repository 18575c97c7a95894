-- Schema version 10 (PostgreSQL): order memory.
--
-- The timeline of an order: one event per stored change of its exported fields (old → new as
-- JSON, {"field": {"old": …, "new": …}}), written in the transaction that makes the change.
-- order_row_id is orders.id; the events of an order go with it when retention deletes it.
-- run_id 0: no run made the change. source: backfill, history, resync, remap or trigger.
CREATE TABLE order_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_row_id BIGINT NOT NULL,
    counter_id   BIGINT NOT NULL,
    task_id      BIGINT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    run_id       BIGINT NOT NULL,
    source       TEXT NOT NULL,
    changes      TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events(order_row_id, id);
CREATE INDEX order_events_at ON order_events(at);
-- How many events an order has: the bound on them is checked against it, not by counting.
ALTER TABLE orders ADD COLUMN events INTEGER NOT NULL DEFAULT 0;

-- The RetailCRM order an order row was mapped from, compressed (NULL: not kept), so that a new
-- mapping can be applied to the stored orders without reading them from RetailCRM again.
ALTER TABLE orders ADD COLUMN raw BYTEA;

-- Every mapping a task was saved with, numbered from 1 per task; who saved it (0 and '': the
-- service, as for the mappings tasks had before this version, which become their version 1).
CREATE TABLE mapping_versions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    task_id       BIGINT NOT NULL REFERENCES import_tasks(id),
    version       INTEGER NOT NULL,
    mapping       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by_id BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    UNIQUE (task_id, version)
);
INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
    SELECT account_id, id, 1, mapping, updated_at, 0, '' FROM import_tasks;

-- What a task keeps of a buyer's contacts: keep, hash (SHA-256 of phone and email, no name) or
-- drop; and after how many days an order (by its date) is deleted for good (NULL: never).
ALTER TABLE import_tasks ADD COLUMN pii TEXT NOT NULL DEFAULT 'keep';
ALTER TABLE import_tasks ADD COLUMN orders_retention_days INTEGER;
