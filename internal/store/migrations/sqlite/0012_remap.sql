-- Schema version 12 (SQLite): re-mapping stored orders.
--
-- Where a re-map of a task's stored orders has got to: the RetailCRM id (orders.crm_id) of the
-- last order whose kept raw order it applied the new mapping to, committed with that batch (0:
-- from the start).
ALTER TABLE sync_state ADD COLUMN remap_after INTEGER NOT NULL DEFAULT 0;

-- Compression dictionaries trained on a task's orders (without personal data). A kept raw order
-- names its dictionary by id inside its zstd frame, so every dictionary a task's copies may name
-- is kept as long as the task's orders are.
CREATE TABLE raw_dicts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    INTEGER NOT NULL REFERENCES import_tasks(id),
    dict       BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX raw_dicts_task ON raw_dicts(task_id, id);
