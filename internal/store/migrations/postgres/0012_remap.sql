-- Schema version 12 (PostgreSQL): re-mapping stored orders.
--
-- Where a re-map of a task's stored orders has got to: the RetailCRM id (orders.crm_id) of the
-- last order whose kept raw order it applied the new mapping to, committed with that batch (0:
-- from the start).
ALTER TABLE sync_state ADD COLUMN remap_after BIGINT NOT NULL DEFAULT 0;

-- Compression dictionaries trained on a task's orders (without personal data). A kept raw order
-- names its dictionary by id inside its zstd frame, so every dictionary a task's copies may name
-- is kept as long as the task's orders are.
CREATE TABLE raw_dicts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    BIGINT NOT NULL REFERENCES import_tasks(id),
    dict       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX raw_dicts_task ON raw_dicts(task_id, id);
