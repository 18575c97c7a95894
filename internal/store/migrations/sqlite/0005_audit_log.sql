-- Schema version 5 (SQLite): the audit log. Who did what to an account, when and from where:
-- logins and failed logins, API tokens created and revoked, import tasks created, changed and
-- deleted, CRM keys replaced, runs and re-syncs started. Append-only: the triggers refuse every
-- UPDATE and DELETE, so no code path (and no SQL typed by mistake) can rewrite history.
-- account_id is NULL for events that belong to no account (a failed login for an unknown email).

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER REFERENCES accounts(id),
    user_id    INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_account ON audit_log(account_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
