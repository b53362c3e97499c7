"""Where accepted requests go. ``submit`` returns only once the data is durable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass
class AcceptedExport:
    """A validated request, whose tenant the sink must make authoritative."""

    request: ExportTraceServiceRequest
    spans: int
    tenant: str
    # The request's protobuf bytes as received, while they still describe ``request`` exactly
    # (None after validation dropped spans, or for a JSON body): saves re-encoding.
    encoded: bytes | None = None

    def protobuf(self) -> bytes:
        return self.encoded if self.encoded is not None else self.request.SerializeToString()


class SpanSink(Protocol):
    async def submit(self, export: AcceptedExport) -> None:
        """Make the request durable (Kafka acks=all, or written to ClickHouse).

        Raises ``collector.errors.Overloaded`` when it cannot, so the client retries.
        """

    def start(self) -> None: ...

    def stop(self) -> None: ...
