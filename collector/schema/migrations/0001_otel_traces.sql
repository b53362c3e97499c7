-- Spans, column-compatible with the OpenTelemetry Collector's clickhouseexporter `otel_traces`
-- table, so Grafana's ClickHouse datasource (OTel mode) and Collector-written data both work.
-- fleetwatch's own columns are MATERIALIZED from the attribute maps (a Collector's inserts fill
-- them too) or DEFAULT (Kafka provenance, ingest time), so they never break that compatibility.
CREATE TABLE IF NOT EXISTS otel_traces
(
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested
    (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested
    (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),

    TenantId LowCardinality(String) MATERIALIZED ResourceAttributes['fleet.tenant.id'],
    AgentId LowCardinality(String) MATERIALIZED multiIf(
        ResourceAttributes['gen_ai.agent.id'] != '', ResourceAttributes['gen_ai.agent.id'],
        SpanAttributes['gen_ai.agent.id'] != '', SpanAttributes['gen_ai.agent.id'],
        ServiceName),
    AgentName LowCardinality(String) MATERIALIZED if(
        ResourceAttributes['gen_ai.agent.name'] != '', ResourceAttributes['gen_ai.agent.name'],
        SpanAttributes['gen_ai.agent.name']),
    Operation LowCardinality(String) MATERIALIZED if(
        SpanAttributes['gen_ai.operation.name'] != '', SpanAttributes['gen_ai.operation.name'],
        SpanAttributes['messaging.operation.type']),
    PrincipalId String MATERIALIZED SpanAttributes['fleet.principal.id'],
    PrincipalName String MATERIALIZED SpanAttributes['fleet.principal.name'],
    Channel LowCardinality(String) MATERIALIZED SpanAttributes['fleet.channel'],
    ToolName LowCardinality(String) MATERIALIZED SpanAttributes['gen_ai.tool.name'],
    InputTokens UInt64 MATERIALIZED toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens']),
    OutputTokens UInt64 MATERIALIZED toUInt64OrZero(SpanAttributes['gen_ai.usage.output_tokens']),
    KafkaTopic LowCardinality(String) DEFAULT '',
    KafkaPartition Int32 DEFAULT -1,
    KafkaOffset Int64 DEFAULT -1,
    IngestedAt DateTime64(3) DEFAULT now64(3),

    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_ingested IngestedAt TYPE minmax GRANULARITY 1,
    INDEX idx_kafka_offset KafkaOffset TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
-- Detectors scan one tenant's recent minutes across all agents; that leads the sort key.
ORDER BY (TenantId, toStartOfMinute(Timestamp), AgentId, Timestamp)
-- Kafka loads are retried with insert_deduplication_token; a single-node MergeTree only honours
-- it when this window is set (it is 0 by default).
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000;
