-- The ingest path: OTLP requests are inserted as Protobuf rows (collector/schema/otlp_ingest.proto)
-- into the Null table `otlp_ingest`, and the materialized view below explodes them into
-- `otel_traces`. ClickHouse parses and flattens in C++; Python only validates and appends the
-- envelope fields. The string forms are the Collector's clickhouseexporter's: span kind and
-- status code names, lower-case hex ids, attribute values as text (arrays and key-value lists as
-- compact JSON; values nested deeper than that are written as null).

-- Functions are named with a version: a change is a new function in a new migration.
CREATE FUNCTION IF NOT EXISTS fleetwatch_otlp_json_scalar_v1 AS (scalar_) -> multiIf(
    tupleElement(scalar_, 'kind') = 'string_value', toJSONString(tupleElement(scalar_, 'string_value')),
    tupleElement(scalar_, 'kind') = 'int_value', toString(tupleElement(scalar_, 'int_value')),
    tupleElement(scalar_, 'kind') = 'bool_value', if(tupleElement(scalar_, 'bool_value'), 'true', 'false'),
    tupleElement(scalar_, 'kind') = 'double_value',
        if(isFinite(tupleElement(scalar_, 'double_value')), toString(tupleElement(scalar_, 'double_value')), 'null'),
    tupleElement(scalar_, 'kind') = 'bytes_value', concat('"', lower(hex(tupleElement(scalar_, 'bytes_value'))), '"'),
    'null');

CREATE FUNCTION IF NOT EXISTS fleetwatch_otlp_value_text_v1 AS (value_) -> multiIf(
    tupleElement(value_, 'kind') = 'string_value', tupleElement(value_, 'string_value'),
    tupleElement(value_, 'kind') = 'int_value', toString(tupleElement(value_, 'int_value')),
    tupleElement(value_, 'kind') = 'bool_value', if(tupleElement(value_, 'bool_value'), 'true', 'false'),
    tupleElement(value_, 'kind') = 'double_value', toString(tupleElement(value_, 'double_value')),
    tupleElement(value_, 'kind') = 'bytes_value', lower(hex(tupleElement(value_, 'bytes_value'))),
    tupleElement(value_, 'kind') = 'array_value', concat('[', arrayStringConcat(
        arrayMap(item_ -> fleetwatch_otlp_json_scalar_v1(item_),
                 tupleElement(tupleElement(value_, 'array_value'), 'values')), ','), ']'),
    tupleElement(value_, 'kind') = 'kvlist_value', concat('{', arrayStringConcat(
        arrayMap(pair_ -> concat(toJSONString(tupleElement(pair_, 'key')), ':',
                                 fleetwatch_otlp_json_scalar_v1(tupleElement(pair_, 'value'))),
                 tupleElement(tupleElement(value_, 'kvlist_value'), 'values')), ','), '}'),
    '');

CREATE FUNCTION IF NOT EXISTS fleetwatch_otlp_attributes_v1 AS (attributes_) -> CAST(mapFromArrays(
    arrayMap(kv_ -> tupleElement(kv_, 'key'), attributes_),
    arrayMap(kv_ -> fleetwatch_otlp_value_text_v1(tupleElement(kv_, 'value')), attributes_)),
    'Map(LowCardinality(String), String)');

CREATE TABLE IF NOT EXISTS otlp_ingest
(
    tenant String,
    kafka_topic String,
    kafka_topic_id String,
    kafka_partition Int32,
    kafka_offset Int64,
    resource_spans Array(Tuple(
        resource Tuple(attributes ${otlp_attributes_v1}),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String),
            spans Array(Tuple(
                trace_id String, span_id String, trace_state String, parent_span_id String, name String,
                kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,
                attributes ${otlp_attributes_v1},
                events Array(Tuple(time_unix_nano UInt64, name String, attributes ${otlp_attributes_v1})),
                links Array(Tuple(trace_id String, span_id String, trace_state String,
                                  attributes ${otlp_attributes_v1})),
                status Tuple(message String, code Int32)))))))
)
ENGINE = Null;

-- Resource attributes are turned into a map once per resource, before the spans are exploded.
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_ingest_mv TO otel_traces AS
SELECT
    fromUnixTimestamp64Nano(toInt64(span.start_time_unix_nano)) AS Timestamp,
    lower(hex(span.trace_id)) AS TraceId,
    lower(hex(span.span_id)) AS SpanId,
    lower(hex(span.parent_span_id)) AS ParentSpanId,
    span.trace_state AS TraceState,
    span.name AS SpanName,
    ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT',
     'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'][if(span.kind BETWEEN 0 AND 5, span.kind + 1, 1)] AS SpanKind,
    resource['service.name'] AS ServiceName,
    resource AS ResourceAttributes,
    scope_spans.scope.name AS ScopeName,
    scope_spans.scope.version AS ScopeVersion,
    fleetwatch_otlp_attributes_v1(span.attributes) AS SpanAttributes,
    if(span.end_time_unix_nano > span.start_time_unix_nano,
       span.end_time_unix_nano - span.start_time_unix_nano, 0) AS Duration,
    ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'][
        if(span.status.code BETWEEN 0 AND 2, span.status.code + 1, 1)] AS StatusCode,
    span.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), span.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, span.events) AS `Events.Name`,
    arrayMap(e -> fleetwatch_otlp_attributes_v1(e.attributes), span.events) AS `Events.Attributes`,
    arrayMap(l -> lower(hex(l.trace_id)), span.links) AS `Links.TraceId`,
    arrayMap(l -> lower(hex(l.span_id)), span.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, span.links) AS `Links.TraceState`,
    arrayMap(l -> fleetwatch_otlp_attributes_v1(l.attributes), span.links) AS `Links.Attributes`,
    kafka_topic AS KafkaTopic,
    kafka_topic_id AS KafkaTopicId,
    kafka_partition AS KafkaPartition,
    kafka_offset AS KafkaOffset
FROM
(
    SELECT kafka_topic, kafka_topic_id, kafka_partition, kafka_offset, scope_spans,
           if(tenant = '', attributes, mapUpdate(attributes, map('fleet.tenant.id', tenant))) AS resource
    FROM
    (
        SELECT kafka_topic, kafka_topic_id, kafka_partition, kafka_offset, tenant, resource_spans_item,
               fleetwatch_otlp_attributes_v1(resource_spans_item.resource.attributes) AS attributes
        FROM otlp_ingest
        ARRAY JOIN resource_spans AS resource_spans_item
    )
    ARRAY JOIN resource_spans_item.scope_spans AS scope_spans
)
ARRAY JOIN scope_spans.spans AS span;
