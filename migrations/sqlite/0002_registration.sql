-- Registration lookups: the cached IANA RDAP bootstrap, and the state the
-- next lookup needs (the last assessment, consecutive failures).

-- One row: the bootstrap file as fetched, so a restart or a failed refresh
-- does not leave lapse without it.
CREATE TABLE rdap_bootstrap (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    url         TEXT NOT NULL,
    body        BLOB NOT NULL,
    fetched_at  TEXT NOT NULL
);

ALTER TABLE domains ADD COLUMN registration_assessment TEXT;      -- JSON: the last assessment
ALTER TABLE domains ADD COLUMN registration_capability TEXT;      -- rdap_with_expiry | whois_only | nothing_published | unknown
ALTER TABLE domains ADD COLUMN registration_lookup_failures INTEGER NOT NULL DEFAULT 0;  -- consecutive lookups where no source answered (retry backoff)
ALTER TABLE domains ADD COLUMN manual_set_at TEXT;

CREATE INDEX domains_registration_due ON domains (next_registration_check_at);
