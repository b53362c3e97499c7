"""Split an export request into Kafka messages under the broker's size limit.

Each message is a complete OTLP TracesData (wire-identical to ExportTraceServiceRequest), the
Collector's ``otlp_proto`` encoding, so every message is readable on its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

# Framing bytes per repeated field entry (tag + length); generous so estimates never undershoot.
_FRAME = 16


def split_request(request: ExportTraceServiceRequest, max_bytes: int) -> list[bytes]:
    if request.ByteSize() <= max_bytes:
        return [request.SerializeToString()]
    return [chunk.SerializeToString() for chunk in _chunks(request, max_bytes)]


def _chunks(request: ExportTraceServiceRequest, max_bytes: int) -> Iterator[ExportTraceServiceRequest]:
    chunk, size = ExportTraceServiceRequest(), 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            header = _header_size(resource_spans, scope_spans)
            target: ScopeSpans | None = None
            for span in scope_spans.spans:
                cost = span.ByteSize() + _FRAME
                if target is not None and size + cost > max_bytes:
                    yield chunk
                    chunk, size, target = ExportTraceServiceRequest(), 0, None
                if target is None:
                    target = _open_scope(chunk, resource_spans, scope_spans)
                    size += header
                target.spans.append(span)
                size += cost
    if chunk.resource_spans:
        yield chunk


def _open_scope(
    chunk: ExportTraceServiceRequest, resource_spans: ResourceSpans, scope_spans: ScopeSpans
) -> ScopeSpans:
    out_resource = chunk.resource_spans.add()
    out_resource.resource.CopyFrom(resource_spans.resource)
    out_resource.schema_url = resource_spans.schema_url
    out_scope: ScopeSpans = out_resource.scope_spans.add()
    out_scope.scope.CopyFrom(scope_spans.scope)
    out_scope.schema_url = scope_spans.schema_url
    return out_scope


def _header_size(resource_spans: ResourceSpans, scope_spans: ScopeSpans) -> int:
    size: int = (
        resource_spans.resource.ByteSize() + len(resource_spans.schema_url)
        + scope_spans.scope.ByteSize() + len(scope_spans.schema_url) + 4 * _FRAME
    )
    return size
