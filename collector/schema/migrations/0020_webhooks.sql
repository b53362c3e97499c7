-- Webhook subscriptions and the delivery outbox (detectors/delivery, docs/webhooks.md).
-- ClickHouse has no row updates, so both tables are append-only: every change is a new row with
-- a higher Revision, and the current state of a key is its highest Revision (FINAL / argMax).
CREATE TABLE IF NOT EXISTS webhook_subscriptions
(
    SubscriptionId String,
    Revision UInt64,
    Name String,
    Url String,
    -- whsec_ secrets, newest first; more than one while a rotation is in progress.
    Secrets Array(String),
    PayloadFormat LowCardinality(String),
    Detectors Array(String),
    Severities Array(String),
    Tenants Array(String),
    Agents Array(String),
    Enabled Bool,
    Deleted Bool,
    DisabledReason String,
    CreatedAt DateTime64(3, 'UTC'),
    UpdatedAt DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(Revision)
ORDER BY SubscriptionId;

-- One logical message per (subscription, alert, version); MessageId is the webhook-id, derived
-- from that triple so a re-enqueue after a crash yields the same id. The first row of a message
-- has Revision 0, so a duplicate enqueue can never override a later delivery state.
CREATE TABLE IF NOT EXISTS webhook_outbox
(
    MessageId String,
    Revision UInt64,
    SubscriptionId String,
    AlertId String,
    AlertVersion UInt32,
    TenantId LowCardinality(String),
    Body String CODEC(ZSTD(3)),
    -- pending, delivered, failed (gave up or refused), cancelled (subscription gone)
    State LowCardinality(String),
    Attempts UInt32,
    NextAttemptAt DateTime64(3, 'UTC'),
    LastStatus Int32,
    LastError String,
    CreatedAt DateTime64(3, 'UTC'),
    UpdatedAt DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(Revision)
PARTITION BY toYYYYMM(CreatedAt)
ORDER BY MessageId
-- Every row of a message shares CreatedAt, so a message expires whole; the retry schedule ends
-- long before this, and the dispatcher ignores older rows anyway.
TTL toDateTime(CreatedAt) + INTERVAL 30 DAY;
