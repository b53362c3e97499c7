"""Read encoded OTLP requests back into plain span records, for checks and debugging.

Attribute values are rendered exactly the way fleetwatch stores them (collector.attributes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.attributes import attributes_to_map


@dataclass(frozen=True)
class FlatSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    resource: dict[str, str]
    attributes: dict[str, str]
    links: tuple[tuple[str, str], ...]  # (trace id, span id)

    @property
    def agent_id(self) -> str:
        return self.resource.get("gen_ai.agent.id", "")

    @property
    def operation(self) -> str:
        return self.attributes.get("gen_ai.operation.name") or self.attributes.get(
            "messaging.operation.type", "")


def decode_request(payload: bytes) -> list[FlatSpan]:
    request = ExportTraceServiceRequest.FromString(payload)
    spans: list[FlatSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes_to_map(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(FlatSpan(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(), name=span.name,
                    start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    status_code=span.status.code, resource=resource,
                    attributes=attributes_to_map(span.attributes),
                    links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                ))
    return spans


def decode_requests(payloads: Iterable[bytes]) -> list[FlatSpan]:
    return [span for payload in payloads for span in decode_request(payload)]
