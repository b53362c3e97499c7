-- The Collector's DDL puts bloom filters on the attribute maps' keys and values. Measured on the
-- ingest path (docs/benchmarks.md), building them cost about 7 us of CPU per span, a third of
-- ClickHouse's whole insert. They skip almost nothing for fleetwatch's queries: every agent span
-- carries the same few dozen keys, so each 8,192-row granule holds nearly every key, and the
-- detectors read by tenant and time (the sort key), not by one attribute value. The trace-id
-- filter stays (Grafana's trace view looks traces up by id).
ALTER TABLE otel_traces DROP INDEX IF EXISTS idx_res_attr_key;
ALTER TABLE otel_traces DROP INDEX IF EXISTS idx_res_attr_value;
ALTER TABLE otel_traces DROP INDEX IF EXISTS idx_span_attr_key;
ALTER TABLE otel_traces DROP INDEX IF EXISTS idx_span_attr_value;
