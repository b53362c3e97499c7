-- Detector engine state, so a restart neither repeats nor misses an incident.
-- Cursors: the ingest cursor (Scope 'ingest'), each tenant's event-time watermark
-- (Scope 'watermark') and how far each detector has evaluated a tenant (Scope 'evaluated').
-- Positions are Unix nanoseconds; the row with the highest Version wins.
CREATE TABLE IF NOT EXISTS detector_cursors
(
    Scope LowCardinality(String),
    TenantId LowCardinality(String),
    Detector LowCardinality(String),
    Position Int64,
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Scope, TenantId, Detector);

-- Learned baselines (per-agent statistics, model training sets) as JSON, one row per key.
CREATE TABLE IF NOT EXISTS detector_baselines
(
    TenantId LowCardinality(String),
    Detector LowCardinality(String),
    Key String,
    Payload String,
    UpdatedAt DateTime64(3) DEFAULT now64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (TenantId, Detector, Key);

-- Whether each detector can see what it needs in each tenant's spans (missing attributes).
CREATE TABLE IF NOT EXISTS detector_status
(
    TenantId LowCardinality(String),
    Detector LowCardinality(String),
    Status LowCardinality(String),
    Missing Array(String),
    Message String,
    UpdatedAt DateTime64(3) DEFAULT now64(3),
    Version UInt64
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (TenantId, Detector);
