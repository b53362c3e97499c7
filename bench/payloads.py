"""Pre-encoded OTLP requests for load: realistic agent spans, a unique id per request, no encode cost.

The spans are made once with the real OpenTelemetry SDK; each request then reuses their encoded
bytes behind a per-request resource (protobuf messages concatenate), so the load generator
spends its CPU on sending, not encoding.
"""

from __future__ import annotations

import itertools

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from tests.support.otel import sdk_spans

_AGENT_ATTRIBUTES = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": "shell",
    "gen_ai.agent.id": "agent-ash",
    "fleet.principal.id": "discord:3001",
    "fleet.principal.name": "Chris",
    "fleet.channel": "discord:#ops",
    "gen_ai.conversation.id": "conv-42",
    "fleet.action.kind": "execute",
    "fleet.action.target": "file:MEMORY.md",
    "fleet.resource.bytes": 2048,
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "fleet.message.recipients": ("discord:2001", "discord:2002"),
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class RequestFactory:
    def __init__(self, spans_per_request: int) -> None:
        self.spans_per_request = spans_per_request
        request = encode_spans(sdk_spans(spans_per_request, service="agent-ash", attributes=_AGENT_ATTRIBUTES,
                                         resource_attributes={"fleet.agent.owners": ("discord:1001",)}))
        template = request.resource_spans[0]
        self._resource = template.resource
        self._scopes = ResourceSpans(scope_spans=template.scope_spans).SerializeToString()
        self._ids = itertools.count()
        self.request_bytes = len(self.next()[1])

    def next(self) -> tuple[int, bytes]:
        """A fresh request id and its ExportTraceServiceRequest bytes."""
        request_id = next(self._ids)
        head = ResourceSpans()
        head.resource.CopyFrom(self._resource)
        marker = KeyValue(key="bench.request")
        marker.value.string_value = str(request_id)
        head.resource.attributes.append(marker)
        resource_spans = head.SerializeToString() + self._scopes
        # ExportTraceServiceRequest field 1 (resource_spans), length-delimited.
        return request_id, b"\x0a" + _varint(len(resource_spans)) + resource_spans
