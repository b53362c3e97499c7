-- Alert versions already pushed to Grafana as annotations, so the publisher is idempotent.
-- One row per push; an alert's annotation is the row with its highest Version for that Grafana.
-- AnnotationId 0 = Grafana refused that version; it is retried only when a newer version exists.
CREATE TABLE IF NOT EXISTS grafana_annotations
(
    Target String,
    AlertId String,
    Version UInt32,
    AnnotationId Int64,
    PushedAt DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(PushedAt)
ORDER BY (Target, AlertId, Version);
