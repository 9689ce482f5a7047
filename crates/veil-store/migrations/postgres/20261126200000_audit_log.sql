-- The tamper-evident audit log (veil-audit): one row per record, one per signed checkpoint,
-- and the writer's head. Verification reads only `audit_records.leaf/bytes` and
-- `audit_checkpoints.text`; the other columns are indexes for queries, derived from the bytes.
CREATE TABLE IF NOT EXISTS audit_records (
    seq        BIGINT PRIMARY KEY,    -- position in the log, from 0, without gaps
    time_ms    BIGINT NOT NULL,       -- unix milliseconds (query index)
    principal  TEXT NOT NULL,         -- query index
    request_id TEXT NOT NULL,         -- query index (`veil explain`)
    kind       BIGINT NOT NULL,       -- 1 request .. 6 data release (query index)
    verdict    BIGINT,               -- 1 allow, 2 deny, NULL when the event has none
    leaf       BYTEA NOT NULL,        -- SHA-256(0x00 || bytes)
    bytes      BYTEA NOT NULL         -- canonical record encoding (docs/audit.md)
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time_ms);
CREATE INDEX IF NOT EXISTS audit_records_principal ON audit_records (principal, seq);
CREATE INDEX IF NOT EXISTS audit_records_request ON audit_records (request_id);

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size    BIGINT PRIMARY KEY,       -- tree size signed
    time_ms BIGINT NOT NULL,
    text    TEXT NOT NULL            -- the C2SP signed note
);

-- The one sequencer: every append transaction first updates this single row, which
-- serializes writers (SQLite's write lock, PostgreSQL's row lock), so seq order is commit
-- order across connections, processes and replicas.
CREATE TABLE IF NOT EXISTS audit_head (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    size               BIGINT NOT NULL,
    last_leaf          BYTEA NOT NULL,
    frontier           BYTEA NOT NULL,  -- the tree's compact range: size.count_ones() hashes
    checkpoint_size    BIGINT NOT NULL,
    checkpoint_time_ms BIGINT NOT NULL
);
INSERT INTO audit_head (id, size, last_leaf, frontier, checkpoint_size, checkpoint_time_ms)
VALUES (1, 0, decode(repeat('00', 32), 'hex'), ''::bytea, 0, 0)
ON CONFLICT DO NOTHING;
