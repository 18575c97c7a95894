-- Schema version 5 (PostgreSQL): the audit log. Who did what to an account, when and from where:
-- logins and failed logins, API tokens created and revoked, import tasks created, changed and
-- deleted, CRM keys replaced, runs and re-syncs started. Append-only: the triggers refuse every
-- UPDATE, DELETE and TRUNCATE, so no code path (and no SQL typed by mistake) can rewrite history.
-- account_id is NULL for events that belong to no account (a failed login for an unknown email).

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT REFERENCES accounts(id),
    user_id    BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_account ON audit_log(account_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
