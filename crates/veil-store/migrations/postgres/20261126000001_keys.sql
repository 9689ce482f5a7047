-- API keys. Only the SHA-256 of a key is stored; the key itself is shown once at creation.
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    tenant        TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- JSON array of strings
    models        TEXT NOT NULL,          -- JSON array of strings; empty = every model
    created_at    BIGINT NOT NULL,       -- unix seconds
    expires_at    BIGINT,                -- unix seconds; NULL = never
    revoked_at    BIGINT,                -- unix seconds; NULL = active
    requests_per_minute BIGINT,
    tokens_per_minute   BIGINT,
    max_concurrent      BIGINT,
    description   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
