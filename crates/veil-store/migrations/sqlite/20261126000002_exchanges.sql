-- One append-only row per request record and per response record. `seq` orders the log;
-- `canonical` holds the exact bytes a tamper-evident log will hash as a leaf.
CREATE TABLE IF NOT EXISTS exchange_records (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id        TEXT NOT NULL,
    kind              TEXT NOT NULL,      -- 'request' | 'response'
    at_ms             INTEGER NOT NULL,   -- unix milliseconds
    key_id            TEXT,
    tenant            TEXT,
    route             TEXT NOT NULL,
    model             TEXT,
    status            INTEGER,
    latency_ms        INTEGER,
    upstream_latency_ms INTEGER,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    request_hash      TEXT,
    canonical         BLOB NOT NULL,
    UNIQUE (request_id, kind)
);
CREATE INDEX IF NOT EXISTS exchange_records_at ON exchange_records (at_ms);
CREATE INDEX IF NOT EXISTS exchange_records_key ON exchange_records (key_id);
