"""Where released spans go: the stock OTLP exporter, a record file, or memory.

``OtlpTransport`` uses the OpenTelemetry SDK's own OTLP exporters (HTTP/protobuf by default,
gRPC optional) so what reaches fleetwatch is exactly what an instrumented agent would send.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from simulator.encode import RecordWriter, encode_batch

log = logging.getLogger(__name__)


class Transport(Protocol):
    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool: ...

    def close(self) -> None: ...


def otlp_exporter(endpoint: str, protocol: str, token: str | None, timeout_s: float) -> SpanExporter:
    """The stock exporter for ``protocol`` (``http`` or ``grpc``) aimed at ``endpoint``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        target = endpoint.split("://", 1)[-1]
        return Grpc(endpoint=target, insecure=endpoint.startswith("http://") or "://" not in endpoint,
                    headers=headers or None, timeout=timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return Http(endpoint=url, headers=headers, timeout=timeout_s)


class EndpointUnavailable(RuntimeError):
    """Several exports in a row failed (after the exporter's own retries): stop the run."""


class OtlpTransport:
    """Exports batches with the stock exporter on ``concurrency`` threads (one exporter each),
    as several agents' processes would; arrival order varies, span content does not."""

    def __init__(self, make_exporter: Callable[[], SpanExporter], *, concurrency: int = 4,
                 max_consecutive_failures: int = 3) -> None:
        self._make_exporter = make_exporter
        self._local = threading.local()
        self._exporters: list[SpanExporter] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="otlp-export")
        self._in_flight: deque[Future[bool]] = deque()
        self._window = concurrency * 2
        self._lock = threading.Lock()
        self._max_failures = max_consecutive_failures
        self._failures_in_a_row = 0
        self.requests = 0
        self.failed_requests = 0

    def _exporter(self) -> SpanExporter:
        exporter: SpanExporter | None = getattr(self._local, "exporter", None)
        if exporter is None:
            exporter = self._local.exporter = self._make_exporter()
            with self._lock:
                self._exporters.append(exporter)
        return exporter

    def _export(self, spans: Sequence[ReadableSpan]) -> bool:
        ok = self._exporter().export(spans) is SpanExportResult.SUCCESS
        with self._lock:
            self._failures_in_a_row = 0 if ok else self._failures_in_a_row + 1
            self.failed_requests += 0 if ok else 1
        if not ok:
            log.warning("OTLP export of %d spans failed", len(spans))
        return ok

    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool:
        if self._failures_in_a_row >= self._max_failures:
            raise EndpointUnavailable(f"{self._failures_in_a_row} exports in a row failed")
        while len(self._in_flight) >= self._window:  # backpressure: never run far ahead
            self._in_flight.popleft().result()
        self.requests += 1
        self._in_flight.append(self._pool.submit(self._export, list(spans)))
        return True

    def close(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()
        self._pool.shutdown(wait=True)
        for exporter in self._exporters:
            exporter.shutdown()
        if self._failures_in_a_row >= self._max_failures:
            raise EndpointUnavailable(f"{self._failures_in_a_row} exports in a row failed")


class FileTransport:
    """Writes each batch as one pre-encoded request with its send-time offset."""

    def __init__(self, path: Path) -> None:
        self.writer = RecordWriter(path)
        self.requests = 0
        self.failed_requests = 0

    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool:
        self.requests += 1
        self.writer.write(offset_ns, len(spans), encode_batch(spans))
        return True

    def close(self) -> None:
        self.writer.close()


class MemoryTransport:
    """Keeps the encoded requests; for library callers and tests that inspect the output."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, bytes]] = []
        self.requests = 0
        self.failed_requests = 0

    def send(self, spans: Sequence[ReadableSpan], offset_ns: int) -> bool:
        self.requests += 1
        self.batches.append((offset_ns, encode_batch(spans)))
        return True

    def close(self) -> None:
        return None
