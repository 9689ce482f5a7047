-- One append-only row per request record and per response record. `seq` orders the log;
-- `canonical` holds the exact bytes a tamper-evident log will hash as a leaf.
CREATE TABLE IF NOT EXISTS exchange_records (
    seq               BIGSERIAL PRIMARY KEY,
    request_id        TEXT NOT NULL,
    kind              TEXT NOT NULL,      -- 'request' | 'response'
    at_ms             BIGINT NOT NULL,   -- unix milliseconds
    key_id            TEXT,
    tenant            TEXT,
    route             TEXT NOT NULL,
    model             TEXT,
    status            BIGINT,
    latency_ms        BIGINT,
    upstream_latency_ms BIGINT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    request_hash      TEXT,
    canonical         BYTEA NOT NULL,
    UNIQUE (request_id, kind)
);
CREATE INDEX IF NOT EXISTS exchange_records_at ON exchange_records (at_ms);
CREATE INDEX IF NOT EXISTS exchange_records_key ON exchange_records (key_id);
