-- The gateway now writes every exchange to the tamper-evident audit log (`audit_records`);
-- `exchange_records` was a second, unverifiable copy of the same facts. One source of truth.
DROP TABLE IF EXISTS exchange_records;
