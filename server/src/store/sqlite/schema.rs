//! The tables and indexes a new database gets. Each statement is `IF NOT
//! EXISTS`, so opening runs them every time; [`super::migrate`] brings
//! databases made by older servers up to the same shape.

/// Accounts, tokens, messages and media.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    expires_at INTEGER NOT NULL
    -- family, parent, grace_until: added by migrate::tokens
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES accounts(id),
    recipient_id INTEGER REFERENCES accounts(id),
    client_id INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    content BLOB NOT NULL,
    UNIQUE (sender_id, client_id)
);
CREATE TABLE IF NOT EXISTS blobs (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    hash BLOB NOT NULL REFERENCES blobs(hash),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (hash, account_id)
);
CREATE TABLE IF NOT EXISTS message_media (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS known_addresses (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    ip TEXT NOT NULL,
    last_login INTEGER NOT NULL,
    PRIMARY KEY (account_id, ip)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partials (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    hash BLOB NOT NULL,
    size INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, hash)
);
CREATE INDEX IF NOT EXISTS message_media_by_hash ON message_media(hash);
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages(recipient_id, id);
CREATE INDEX IF NOT EXISTS messages_by_sender ON messages(sender_id, id);
-- A private conversation's pages: without it, every message either person
-- ever sent was read to find the few between them.
CREATE INDEX IF NOT EXISTS messages_by_pair ON messages(sender_id, recipient_id, id);
";

/// The refusals remembered for resends (see `Messages::remember_rejection`).
pub(super) const REJECTIONS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rejected_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES accounts(id),
    client_id INTEGER NOT NULL,
    reason BLOB NOT NULL,
    UNIQUE (sender_id, client_id)
);
CREATE INDEX IF NOT EXISTS rejected_sends_by_sender ON rejected_sends(sender_id, id);
";
