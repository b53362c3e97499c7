"""The spans table's insert columns, defined once.

Names and order are the OpenTelemetry Collector's ``otel_traces`` columns (Events and Links are
Nested, so they are inserted as their sub-columns), plus fleetwatch's Kafka provenance. The
materialized columns (AgentId, TenantId, ...) are computed by ClickHouse and never inserted.
String forms of span kind and status code are the Collector's, so queries written for
Collector-fed tables work unchanged.
"""

from __future__ import annotations

from typing import Final

SPANS_TABLE: Final = "otel_traces"

SPAN_COLUMNS: Final[tuple[str, ...]] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
    "KafkaTopic",
    "KafkaTopicId",
    "KafkaPartition",
    "KafkaOffset",
)

# Index = the OTLP enum value.
SPAN_KIND_NAMES: Final = (
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
)
STATUS_CODE_NAMES: Final = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")

# Resource attribute the receiver stamps from the caller's credentials (never trusted from spans).
TENANT_ATTRIBUTE: Final = "fleet.tenant.id"

SpanColumns = dict[str, list[object]]


def empty_columns() -> SpanColumns:
    return {name: [] for name in SPAN_COLUMNS}
