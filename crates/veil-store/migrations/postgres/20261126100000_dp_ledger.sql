-- Privacy-budget ledger (veil-dp): one row per dataset and privacy unit.
-- Budgets and spent totals are IEEE doubles; spent totals are rounded up by veil-dp before
-- they are written, so the stored value never understates what was spent.
-- `version` increments on every write: try_spend is a compare-and-set on it.
CREATE TABLE IF NOT EXISTS dp_ledger (
    dataset        TEXT NOT NULL,
    privacy_unit   TEXT NOT NULL,
    notion         TEXT NOT NULL CHECK (notion IN ('pure', 'approx', 'zcdp')),
    budget_epsilon DOUBLE PRECISION NOT NULL,
    budget_delta   DOUBLE PRECISION NOT NULL,
    budget_rho     DOUBLE PRECISION NOT NULL,
    spent_epsilon  DOUBLE PRECISION NOT NULL DEFAULT 0,
    spent_delta    DOUBLE PRECISION NOT NULL DEFAULT 0,
    spent_rho      DOUBLE PRECISION NOT NULL DEFAULT 0,
    version        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dataset, privacy_unit)
);
