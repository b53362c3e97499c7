"""OTLP ExportTraceServiceRequest -> column lists for the spans table.

This is the ingest hot path: one pass over the request, resource and scope values computed once
and shared by their spans, no per-span dict lookups of column names.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.attributes import attributes_to_map
from collector.envelope import NO_PROVENANCE, Provenance
from collector.spans_table import (
    SPAN_KIND_NAMES,
    STATUS_CODE_NAMES,
    TENANT_ATTRIBUTE,
    SpanColumns,
    empty_columns,
)


def flatten_request(
    request: ExportTraceServiceRequest,
    tenant: str | None = None,
    provenance: Provenance = NO_PROVENANCE,
    into: SpanColumns | None = None,
) -> SpanColumns:
    """Append every span of ``request`` to ``into`` (or new columns) and return them.

    ``tenant``, when given, overrides the resource's tenant attribute; the receiver has usually
    stamped it already, so loaders pass None.
    """
    columns = into if into is not None else empty_columns()
    for resource_spans in request.resource_spans:
        resource = attributes_to_map(resource_spans.resource.attributes)
        if tenant is not None:
            resource[TENANT_ATTRIBUTE] = tenant
        service = resource.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                _append_span(columns, span, resource, service, scope.name, scope.version)
                _append_provenance(columns, provenance)
    return columns


def _append_span(
    columns: SpanColumns, s: Span, resource: dict[str, str], service: str,
    scope_name: str, scope_version: str,
) -> None:
    start = s.start_time_unix_nano
    columns["Timestamp"].append(start)
    columns["TraceId"].append(s.trace_id.hex())
    columns["SpanId"].append(s.span_id.hex())
    columns["ParentSpanId"].append(s.parent_span_id.hex())
    columns["TraceState"].append(s.trace_state)
    columns["SpanName"].append(s.name)
    columns["SpanKind"].append(_enum_name(SPAN_KIND_NAMES, s.kind))
    columns["ServiceName"].append(service)
    columns["ResourceAttributes"].append(resource)
    columns["ScopeName"].append(scope_name)
    columns["ScopeVersion"].append(scope_version)
    columns["SpanAttributes"].append(attributes_to_map(s.attributes))
    columns["Duration"].append(max(0, s.end_time_unix_nano - start))
    status = s.status
    columns["StatusCode"].append(_enum_name(STATUS_CODE_NAMES, status.code))
    columns["StatusMessage"].append(status.message)
    if s.events:
        _append_events(columns, s)
    else:
        for name in _EVENT_COLUMNS:
            columns[name].append(_NONE)
    if s.links:
        _append_links(columns, s)
    else:
        for name in _LINK_COLUMNS:
            columns[name].append(_NONE)


# Shared by every span without events or links; the writer only reads it.
_NONE: list[object] = []
_EVENT_COLUMNS = ("Events.Timestamp", "Events.Name", "Events.Attributes")
_LINK_COLUMNS = ("Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes")


def _append_events(columns: SpanColumns, s: Span) -> None:
    events = s.events
    columns["Events.Timestamp"].append([e.time_unix_nano for e in events])
    columns["Events.Name"].append([e.name for e in events])
    columns["Events.Attributes"].append([attributes_to_map(e.attributes) for e in events])


def _append_links(columns: SpanColumns, s: Span) -> None:
    links = s.links
    columns["Links.TraceId"].append([link.trace_id.hex() for link in links])
    columns["Links.SpanId"].append([link.span_id.hex() for link in links])
    columns["Links.TraceState"].append([link.trace_state for link in links])
    columns["Links.Attributes"].append([attributes_to_map(link.attributes) for link in links])


def _append_provenance(columns: SpanColumns, provenance: Provenance) -> None:
    columns["KafkaTopic"].append(provenance.topic)
    columns["KafkaTopicId"].append(provenance.topic_id)
    columns["KafkaPartition"].append(provenance.partition)
    columns["KafkaOffset"].append(provenance.offset)


def _enum_name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else names[0]


def row_count(columns: SpanColumns) -> int:
    return len(columns["SpanId"])
