"""Span-level checks: drop invalid spans and report them as OTLP partial success."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# Tags, lengths and schema URLs around a span inside one message.
_FRAMING = 1024


@dataclass(frozen=True)
class Validation:
    accepted: int
    rejected: int
    message: str


def drop_invalid_spans(request: ExportTraceServiceRequest, max_message_bytes: int,
                       request_bytes: int | None = None) -> Validation:
    """Remove spans fleetwatch cannot store faithfully, in place; count what was kept.

    A span must fit in one transport message together with its resource and scope. When the
    whole request (``request_bytes``, its encoded size) fits, every span does, and no span's
    size is computed: that is the common case and measuring each span is not free.
    """
    sizes_fit = request_bytes is not None and request_bytes + _FRAMING <= max_message_bytes
    accepted = rejected = 0
    reasons: set[str] = set()
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            header = resource_spans.resource.ByteSize() + scope_spans.scope.ByteSize() + _FRAMING
            max_span_bytes = None if sizes_fit else max_message_bytes - header
            keep = []
            for span in scope_spans.spans:
                reason = _problem(span, max_span_bytes)
                if reason is None:
                    keep.append(span)
                else:
                    reasons.add(reason)
            rejected += len(scope_spans.spans) - len(keep)
            accepted += len(keep)
            if len(keep) != len(scope_spans.spans):
                del scope_spans.spans[:]
                scope_spans.spans.extend(keep)
    return Validation(accepted, rejected, "; ".join(sorted(reasons)))


def _problem(span: Span, max_span_bytes: int | None) -> str | None:
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE:
        return "invalid trace_id (must be 16 non-zero bytes)"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN:
        return "invalid span_id (must be 8 non-zero bytes)"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "invalid parent_span_id (must be empty or 8 bytes)"
    if max_span_bytes is not None and span.ByteSize() > max_span_bytes:
        return f"span larger than {max_span_bytes} bytes"
    return None
