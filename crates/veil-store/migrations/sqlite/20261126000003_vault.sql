-- Pseudonym mappings. The store sees only ciphertext and keyed hashes, never values.
CREATE TABLE IF NOT EXISTS vault_entries (
    tenant        TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    placeholder   TEXT NOT NULL,
    value_hash    TEXT NOT NULL,          -- keyed hash of the original, for consistent pseudonyms
    ciphertext    BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, conversation, placeholder),
    UNIQUE (tenant, conversation, value_hash)
);
CREATE INDEX IF NOT EXISTS vault_entries_expiry ON vault_entries (expires_at);
