"""Replay a pre-encoded OTLP record file against an OTLP/HTTP endpoint.

Records are POSTed as ``application/x-protobuf`` over several concurrent connections, either at
their recorded send times divided by ``speed`` or as fast as possible (``speed=None``). Retryable
answers (429, 502, 503, 504) are retried a bounded number of times, honouring ``Retry-After`` up
to a cap, as an OTLP client would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from simulator.clock import NS_PER_SECOND
from simulator.encode import Record, read_records

RETRYABLE = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_S = 5.0


@dataclass
class ReplayStats:
    records: int = 0
    spans: int = 0
    bytes: int = 0
    failed: int = 0  # records given up on (non-retryable answer or retries exhausted)
    retries: int = 0
    elapsed_s: float = 0.0

    @property
    def spans_per_second(self) -> float:
        return self.spans / self.elapsed_s if self.elapsed_s > 0 else 0.0


def traces_url(endpoint: str) -> str:
    url = endpoint.rstrip("/")
    return url if url.endswith("/v1/traces") else url + "/v1/traces"


async def _post(client: httpx.AsyncClient, url: str, record: Record, stats: ReplayStats,
                max_retries: int) -> None:
    for attempt in range(max_retries + 1):
        try:
            reply = await client.post(url, content=record.payload)
        except httpx.TransportError:
            status, wait = 503, 0.2 * (attempt + 1)
        else:
            status = reply.status_code
            wait = min(float(reply.headers.get("retry-after", "0.2") or 0.2), MAX_RETRY_AFTER_S)
        if status == 200:
            stats.records += 1
            stats.spans += record.span_count
            stats.bytes += len(record.payload)
            return
        if status not in RETRYABLE or attempt == max_retries:
            break
        stats.retries += 1
        await asyncio.sleep(wait)
    stats.failed += 1


async def replay_async(path: Path, endpoint: str, *, speed: float | None = 1.0,
                       concurrency: int = 4, token: str | None = None, timeout_s: float = 30.0,
                       max_retries: int = 5) -> ReplayStats:
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    headers = {"content-type": "application/x-protobuf"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    stats, url = ReplayStats(), traces_url(endpoint)
    queue: asyncio.Queue[Record | None] = asyncio.Queue(maxsize=concurrency * 2)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    began = time.monotonic()
    async with httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits) as client:

        async def worker() -> None:
            while (record := await queue.get()) is not None:
                await _post(client, url, record, stats, max_retries)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        for record in read_records(path):
            if speed is not None:
                due = began + record.offset_ns / NS_PER_SECOND / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await queue.put(record)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    stats.elapsed_s = time.monotonic() - began
    return stats


def replay(path: Path, endpoint: str, **options: object) -> ReplayStats:
    """Blocking wrapper around ``replay_async`` (same keyword options)."""
    return asyncio.run(replay_async(path, endpoint, **options))  # type: ignore[arg-type]
