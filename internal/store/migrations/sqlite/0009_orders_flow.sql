-- Schema version 9 (SQLite): orders flow on.
--
-- The changes feed: counters.feed_seq is the position the counter's feed has reached, and
-- orders.feed_seq the position of the order's latest change (0: written before the feed
-- existed, read first). A transaction that changes orders takes the next position by updating
-- its counter's row, which it holds locked until it commits: positions are handed out in
-- commit order, so a reader never meets a smaller position after a larger one.
ALTER TABLE counters ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN feed_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_counter_feed ON orders(counter_id, feed_seq, id);

-- The RetailCRM trigger: the token of a task's trigger URL, as SHA-256 (what a call is looked
-- up by) and sealed with the service's key (what the task page shows); when the last
-- triggered run started (at most one per 10 seconds).
ALTER TABLE import_tasks ADD COLUMN trigger_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE import_tasks ADD COLUMN trigger_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE import_tasks ADD COLUMN trigger_run_at TIMESTAMP;
CREATE UNIQUE INDEX import_tasks_trigger ON import_tasks(trigger_hash) WHERE trigger_hash <> '';

-- Outbound webhooks: each with its own cursor in its counter's feed (cursor_seq, cursor_id:
-- the last change delivered). A delivery is a batch of changes frozen when it is first sent,
-- so every retry sends the same body under the same webhook-id; its attempts are the log.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    counter_id      INTEGER NOT NULL REFERENCES counters(id),
    url             TEXT NOT NULL,
    secret_sealed   TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT NOT NULL,
    disabled_at     TIMESTAMP,
    cursor_seq      INTEGER NOT NULL,
    cursor_id       INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_counter ON webhooks(counter_id);
CREATE INDEX webhooks_account ON webhooks(account_id, counter_id);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       INTEGER NOT NULL REFERENCES webhooks(id),
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    msg_id           TEXT NOT NULL,
    type             TEXT NOT NULL,
    body             TEXT NOT NULL,
    changes          INTEGER NOT NULL,
    end_seq          INTEGER NOT NULL,
    end_id           INTEGER NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    first_attempt_at TIMESTAMP,
    next_attempt_at  TIMESTAMP,
    finished_at      TIMESTAMP
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, status, id);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id),
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    error       TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    at          TIMESTAMP NOT NULL
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts(webhook_id, id);
CREATE INDEX webhook_attempts_at ON webhook_attempts(at);

-- Alerts: where an account's alerts go, and the incidents they are about. One incident per
-- subject (a task, a webhook) is open at a time; it is alerted when it starts and when it ends.
CREATE TABLE alert_channels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    type          TEXT NOT NULL,
    address       TEXT NOT NULL,
    url           TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    language      TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    last_sent_at  TIMESTAMP,
    last_error    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX alert_channels_account ON alert_channels(account_id);

CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    subject    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    task_id    INTEGER NOT NULL,
    webhook_id INTEGER NOT NULL,
    detail     TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);
CREATE UNIQUE INDEX incidents_open ON incidents(subject) WHERE ended_at IS NULL;
CREATE INDEX incidents_account ON incidents(account_id, id);
