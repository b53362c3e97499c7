-- Parse-only twin of otlp_ingest (no view behind it): when an insert fails because ClickHouse
-- cannot parse some request (one that Python's decoder accepted, e.g. a field sent with the
-- wrong wire type), each request of the batch is parsed here alone to find the bad ones, so
-- they are refused or dead-lettered and the rest of the batch is stored.
CREATE TABLE IF NOT EXISTS otlp_ingest_check AS otlp_ingest ENGINE = Null;
