"""OTLP/HTTP receiver: POST /v1/traces, protobuf or JSON, optionally gzip."""

from __future__ import annotations

import asyncio

from aiohttp import web

from collector.body import read_bounded
from collector.decode import JSON, PROTOBUF, decode_request, media_type
from collector.errors import BodyTooLarge, IngestError
from collector.ingestor import Ingestor
from collector.responses import encode, export_response, status

_CHUNK = 64 * 1024


class HttpReceiver:
    def __init__(self, ingestor: Ingestor, max_body_bytes: int, max_concurrent_reads: int) -> None:
        self._ingestor = ingestor
        self._max_body = max_body_bytes
        # Bodies being read are not yet counted by the limiter; cap how many are read at once
        # (worst case max_concurrent_reads x max_body_bytes).
        self._reads = asyncio.Semaphore(max_concurrent_reads)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self.export_traces)
        return app

    async def export_traces(self, request: web.Request) -> web.Response:
        reply_type = JSON if request.content_type == JSON else PROTOBUF
        try:
            tenant = self._ingestor.tenant_for(request.headers.get("Authorization"))
            kind = media_type(request.headers.get("Content-Type", ""))
            body = await self._read(request)
            decoded = decode_request(body, kind)
            encoded = body if kind == PROTOBUF else None
            outcome = await self._ingestor.export(decoded, tenant, len(body), encoded)
        except IngestError as error:
            return self._refuse(error, reply_type)
        return web.Response(body=encode(export_response(outcome), kind), content_type=kind)

    async def _read(self, request: web.Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            raise BodyTooLarge(f"request body exceeds the {self._max_body}-byte limit")
        # Waiting here costs no memory: the body stays in the socket until a slot frees.
        async with self._reads:
            encoding = request.headers.get("Content-Encoding", "")
            return await read_bounded(request.content.iter_chunked(_CHUNK), encoding, self._max_body)

    def _refuse(self, error: IngestError, reply_type: str) -> web.Response:
        self._ingestor.stats.refused(type(error).__name__)
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(error.retry_after)
        body = encode(status(error.grpc_code.value[0], str(error)), reply_type)
        return web.Response(status=error.http_status, body=body, content_type=reply_type, headers=headers)
