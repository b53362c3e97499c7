"""What both receivers (HTTP and gRPC) do with a decoded request."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import drop_unknown_fields
from collector.limiter import InflightLimiter
from collector.sink import AcceptedExport, SpanSink
from collector.stats import IngestStats
from collector.tenancy import Authenticator
from collector.validate import drop_invalid_spans


@dataclass(frozen=True)
class ExportOutcome:
    accepted: int
    rejected: int
    message: str


class Ingestor:
    def __init__(self, sink: SpanSink, authenticator: Authenticator, limiter: InflightLimiter,
                 stats: IngestStats, max_message_bytes: int) -> None:
        self.sink = sink
        self.authenticator = authenticator
        self.limiter = limiter
        self.stats = stats
        self._max_message_bytes = max_message_bytes

    def tenant_for(self, authorization: str | None) -> str:
        return self.authenticator.tenant_for(authorization)

    async def export(self, request: ExportTraceServiceRequest, tenant: str, size: int,
                     encoded: bytes | None = None) -> ExportOutcome:
        """Validate and return once the accepted spans are durable under ``tenant``.

        ``encoded``: the protobuf body ``request`` was decoded from, if there was one.
        """
        # A protobuf body's length is the request's encoded size; JSON bodies are never smaller.
        validation = drop_invalid_spans(request, self._max_message_bytes, size)
        if validation.accepted:
            changed = drop_unknown_fields(request) or validation.rejected > 0
            unchanged = None if changed else encoded
            with self.limiter.hold(size):
                await self.sink.submit(AcceptedExport(request, validation.accepted, tenant, unchanged))
        self.stats.requests += 1
        self.stats.spans_accepted += validation.accepted
        self.stats.spans_rejected += validation.rejected
        return ExportOutcome(validation.accepted, validation.rejected, validation.message)
