"""OTLP/gRPC receiver: opentelemetry.proto.collector.trace.v1.TraceService/Export."""

from __future__ import annotations

import grpc
from grpc import aio

from collector.decode import decode_protobuf
from collector.errors import IngestError
from collector.ingestor import Ingestor
from collector.responses import export_response

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class GrpcReceiver:
    def __init__(self, ingestor: Ingestor, max_body_bytes: int) -> None:
        self._ingestor = ingestor
        self._max_body = max_body_bytes

    def server(self) -> aio.Server:
        server = aio.server(options=[
            ("grpc.max_receive_message_length", self._max_body),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ])
        # Raw bytes in and out: decoding is ours, shared with the HTTP receiver.
        method = grpc.unary_unary_rpc_method_handler(self.export)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Export": method}),)
        )
        return server

    async def export(self, body: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            tenant = self._ingestor.tenant_for(_authorization(context))
            outcome = await self._ingestor.export(decode_protobuf(body), tenant, len(body), body)
        except IngestError as error:
            self._ingestor.stats.refused(type(error).__name__)
            await context.abort(error.grpc_code, str(error))
        reply: bytes = export_response(outcome).SerializeToString()
        return reply


def _authorization(context: aio.ServicerContext[bytes, bytes]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None
