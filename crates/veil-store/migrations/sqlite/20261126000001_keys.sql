-- API keys. Only the SHA-256 of a key is stored; the key itself is shown once at creation.
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    tenant        TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- JSON array of strings
    models        TEXT NOT NULL,          -- JSON array of strings; empty = every model
    created_at    INTEGER NOT NULL,       -- unix seconds
    expires_at    INTEGER,                -- unix seconds; NULL = never
    revoked_at    INTEGER,                -- unix seconds; NULL = active
    requests_per_minute INTEGER,
    tokens_per_minute   INTEGER,
    max_concurrent      INTEGER,
    description   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
