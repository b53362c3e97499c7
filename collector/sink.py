"""Where accepted requests go. ``submit`` returns only once the data is durable."""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class SpanSink(Protocol):
    async def submit(self, request: ExportTraceServiceRequest, spans: int) -> None:
        """Make the request durable (Kafka acks=all, or written to ClickHouse).

        Raises ``collector.errors.Overloaded`` when it cannot, so the client retries.
        """

    def start(self) -> None: ...

    def stop(self) -> None: ...
