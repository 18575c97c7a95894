-- Schema version 11 (SQLite): people and access. Every user has a role in their account
-- (owner, editor, viewer; the users before this version owned their accounts) and a status:
-- "invited" until they set a password through their invitation, then "active". An invited
-- user's password_hash is empty, so no password signs them in.
--
-- Secrets are stored only hashed (invitation links, recovery codes, pending sign-ins, login
-- throttle keys) or sealed with the master key (TOTP secrets), never in the clear.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
-- The sealed TOTP secret: pending while totp_enabled_at is NULL, the second factor after.
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP;
-- The last 30-second step a TOTP code was accepted for: a code is good once.
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_account ON users(account_id);

-- One-time links that let an invited user set their password; token_hash is the SHA-256 of
-- the link's random token.
CREATE TABLE invitations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_by INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX invitations_user ON invitations(user_id);

-- A TOTP user's recovery codes, SHA-256 hashed, each good once.
CREATE TABLE recovery_codes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at   TIMESTAMP
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- Failed sign-in attempts per throttle key (a keyed hash of an email or an address), shared by
-- every process that serves the UI.
CREATE TABLE login_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    throttle_key TEXT NOT NULL,
    failed_at    TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(throttle_key, failed_at);

-- Sign-ins waiting for their second factor: the first step (password or single sign-on)
-- passed, the TOTP code is still to come. id is the SHA-256 of the browser's token.
CREATE TABLE login_challenges (
    id                  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    method     TEXT NOT NULL,
    next_path  TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- Single sign-on flows under way: the state (id: its SHA-256), nonce and PKCE verifier of one
-- redirect to the identity provider, used once.
CREATE TABLE oidc_logins (
    id                  TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    next_path  TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
