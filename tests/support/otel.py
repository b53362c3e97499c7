"""Make real OTLP requests with the real OpenTelemetry SDK (no hand-built protobufs)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def sdk_spans(
    count: int, *, service: str = "agent-a", attributes: dict[str, object] | None = None,
    resource_attributes: dict[str, object] | None = None,
) -> Sequence[ReadableSpan]:
    """``count`` finished spans from a real TracerProvider, each with a ``test.seq`` number."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, **(resource_attributes or {})})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fleetwatch.tests", "1.0")
    for seq in range(count):
        with tracer.start_as_current_span(f"op {seq % 7}") as span:
            span.set_attribute("test.seq", seq)
            for key, value in (attributes or {}).items():
                span.set_attribute(key, value)  # type: ignore[arg-type]
    provider.shutdown()
    return exporter.get_finished_spans()


def sdk_request(count: int, **kwargs: object) -> ExportTraceServiceRequest:
    request: ExportTraceServiceRequest = encode_spans(sdk_spans(count, **kwargs))  # type: ignore[arg-type]
    return request


def wire_type_mismatch_request() -> bytes:
    """A request Python's decoder accepts (the field becomes an unknown field) but ClickHouse's
    Protobuf format refuses: one span whose ``name`` (field 5, a string) is sent as a varint.
    Hand-built on purpose: no SDK sends this, but a buggy or hostile client can."""

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    span = field(1, b"\x01" * 16) + field(2, b"\x02" * 8) + bytes([5 << 3 | 0, 42])
    return field(1, field(2, field(2, span)))  # resource_spans / scope_spans / spans
