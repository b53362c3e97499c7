"""Read encoded OTLP requests back into plain span records, for checks and debugging.

Attribute values are rendered the way fleetwatch stores them (docs/conventions.md): strings as
is, numbers and booleans as text, arrays as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


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


def _plain(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which) if which else ""


def _text(value: AnyValue) -> str:
    plain = _plain(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, list | dict):
        return json.dumps(plain, separators=(",", ":"))
    return str(plain)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: _text(kv.value) for kv in pairs}


def decode_request(payload: bytes) -> list[FlatSpan]:
    request = ExportTraceServiceRequest.FromString(payload)
    spans: list[FlatSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(FlatSpan(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(), name=span.name,
                    start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    status_code=span.status.code, resource=resource,
                    attributes=_attributes(span.attributes),
                    links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                ))
    return spans


def decode_requests(payloads: Iterable[bytes]) -> list[FlatSpan]:
    return [span for payload in payloads for span in decode_request(payload)]
