-- The audit trail of alerts. Every change to an incident is a new row with a higher Version;
-- the current state of an incident is its highest Version (argMax / LIMIT 1 BY AlertId).
CREATE TABLE IF NOT EXISTS alerts
(
    AlertId String,
    Version UInt32,
    Detector LowCardinality(String),
    Severity LowCardinality(String),
    Status LowCardinality(String),
    TenantId LowCardinality(String),
    Agents Array(String),
    Principals Array(String),
    WindowStart DateTime64(3),
    WindowEnd DateTime64(3),
    FirstSeen DateTime64(3),
    UpdatedAt DateTime64(3),
    Score Float64,
    Title String,
    Explanation String,
    EvidenceTraceIds Array(String),
    EvidenceSpanIds Array(String),
    Labels Map(LowCardinality(String), String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(FirstSeen)
ORDER BY (TenantId, AlertId, Version);
