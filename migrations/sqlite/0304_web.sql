-- lapse: the web pages' accounts and sessions (issue 16). Append-only (see
-- migrations/README.md). No secret is stored: links and sessions keep the
-- SHA-256 of their secret, passwords an Argon2id PHC string.
--
-- web_users       staff accounts (admin | staff | viewer), one per address;
--                 no password until the set-password link is used
-- web_sessions    one row per signed-in browser: a staff user, or a client
--                 (a contact through an emailed link, or whoever opened a
--                 portal link); ends at expires_at, on sign-out, when its
--                 user, client or portal link goes
-- web_links       one-time links: set a password (staff) or sign in (a
--                 client's contact); expiring, used once
-- portal_links    read-only portal links staff share with a client;
--                 revocable, not single use

CREATE TABLE web_users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'viewer')),
    password_hash   TEXT,
    created_at      TEXT NOT NULL,
    password_set_at TEXT
);

CREATE TABLE portal_links (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    client_id   INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    created_by  TEXT NOT NULL,            -- the staff address that made it
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX portal_links_client ON portal_links (client_id);

CREATE TABLE web_sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash     TEXT NOT NULL UNIQUE,
    user_id         INTEGER REFERENCES web_users(id) ON DELETE CASCADE,
    client_id       INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    contact         TEXT COLLATE NOCASE,  -- the contact's address (emailed link)
    portal_link_id  INTEGER REFERENCES portal_links(id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (client_id IS NULL)),
    CHECK (client_id IS NULL OR (contact IS NULL) <> (portal_link_id IS NULL))
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_client ON web_sessions (client_id);
CREATE INDEX web_sessions_portal_link ON web_sessions (portal_link_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE web_links (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('set_password', 'client_sign_in')),
    user_id     INTEGER REFERENCES web_users(id) ON DELETE CASCADE,
    client_id   INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    contact     TEXT COLLATE NOCASE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    CHECK ((purpose = 'set_password') = (user_id IS NOT NULL)),
    CHECK ((purpose = 'client_sign_in') = (client_id IS NOT NULL AND contact IS NOT NULL))
);
CREATE INDEX web_links_user ON web_links (user_id);
CREATE INDEX web_links_client ON web_links (client_id);
