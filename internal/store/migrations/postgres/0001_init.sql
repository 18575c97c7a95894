-- Schema version 1 (PostgreSQL). PostgreSQL has its own DDL with the same version number;
-- the DML in the store is shared, so column names and meanings must stay identical.

CREATE TABLE accounts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE counters (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX counters_account ON counters(account_id);

CREATE TABLE import_tasks (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id           BIGINT NOT NULL REFERENCES accounts(id),
    counter_id           BIGINT NOT NULL REFERENCES counters(id),
    name                 TEXT NOT NULL,
    active               BOOLEAN NOT NULL,
    type                 TEXT NOT NULL,
    frequency_hours      INTEGER NOT NULL,
    crm_url              TEXT NOT NULL,
    crm_key_sealed       TEXT NOT NULL,
    crm_key_hint         TEXT NOT NULL,
    rate_limit           DOUBLE PRECISION NOT NULL,
    mapping              TEXT NOT NULL,
    backfill_from        TEXT NOT NULL,
    status               TEXT NOT NULL,
    status_message       TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    next_run_at          TIMESTAMPTZ,
    lease_owner          TEXT NOT NULL,
    lease_until          TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    deleted_at           TIMESTAMPTZ
);
CREATE INDEX import_tasks_counter ON import_tasks(account_id, counter_id);
CREATE INDEX import_tasks_due ON import_tasks(next_run_at);

CREATE TABLE runs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    task_id      BIGINT NOT NULL REFERENCES import_tasks(id),
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    phase        TEXT NOT NULL,
    queued_at    TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    fetched      INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    invalid      INTEGER NOT NULL,
    requests     INTEGER NOT NULL,
    pages        INTEGER NOT NULL,
    progress_done  INTEGER NOT NULL,
    progress_total INTEGER NOT NULL,
    cursor       TEXT NOT NULL,
    error        TEXT NOT NULL,
    issues       TEXT NOT NULL,
    issues_total INTEGER NOT NULL
);
CREATE INDEX runs_task ON runs(task_id, id);
CREATE INDEX runs_status ON runs(status);

-- sync_state is the task's checkpoint: it only ever moves together with the order writes it
-- describes (same transaction), so a crash can never leave it ahead of the data.
CREATE TABLE sync_state (
    task_id          BIGINT PRIMARY KEY REFERENCES import_tasks(id),
    account_id       BIGINT NOT NULL REFERENCES accounts(id),
    phase            TEXT NOT NULL,
    history_since_id BIGINT NOT NULL,
    history_start    TEXT NOT NULL,
    backfill_from    TEXT NOT NULL,
    backfill_to      TEXT NOT NULL,
    backfill_next    TEXT NOT NULL,
    resync_started_at TIMESTAMPTZ,
    resync_mark      BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    counter_id    BIGINT NOT NULL REFERENCES counters(id),
    task_id       BIGINT NOT NULL,
    crm_id        BIGINT NOT NULL,
    order_id      TEXT NOT NULL,
    order_date    TEXT NOT NULL,
    order_local   TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    item_count    TEXT NOT NULL,
    profit        TEXT NOT NULL,
    revenue       TEXT NOT NULL,
    comment       TEXT NOT NULL,
    contact_name  TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    tags          TEXT NOT NULL,
    status        TEXT NOT NULL,
    site          TEXT NOT NULL,
    deleted       BOOLEAN NOT NULL,
    hash          TEXT NOT NULL,
    sync_mark     BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (counter_id, order_id)
);
CREATE INDEX orders_task_crm ON orders(task_id, crm_id);
CREATE INDEX orders_counter_local ON orders(counter_id, order_local, id);
