"""The embedded default's transport: a bounded in-process queue feeding a ClickHouse writer.

Same promise as the Kafka path: a client's export is answered only after its spans are written.
One thread batches requests by rows and delay, so many small exports become few inserts; inserter
threads (each with its own client) insert earlier batches meanwhile. ClickHouse parses and flattens
the spans (collector/envelope.py). A ClickHouse server runs several inserts side by side, and so
does chDB: each client has a connection of its own (two clients' queries in one process took as
long as one alone, docs/benchmarks.md, session 14).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from collector.envelope import envelope
from collector.errors import MalformedRequest, Overloaded
from collector.sink import AcceptedExport
from collector.stats import IngestStats
from collector.unparsable import is_format_error, unparsable
from collector.writer import insert_envelopes

log = logging.getLogger(__name__)

_INSERT_ATTEMPTS = 3


@dataclass
class _Batch:
    items: list[_Pending]

    @property
    def envelopes(self) -> list[bytes]:
        return [item.envelope for item in self.items]

    @property
    def spans(self) -> int:
        return sum(item.spans for item in self.items)


@dataclass
class _Pending:
    envelope: bytes
    spans: int
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class EmbeddedSink:
    def __init__(
        self, client_factory: Callable[[], Client], *, batch_max_rows: int,
        batch_max_delay_ms: int, retry_after: int, stats: IngestStats, inserters: int = 1,
    ) -> None:
        self._client_factory = client_factory
        self._max_rows = batch_max_rows
        self._max_delay = batch_max_delay_ms / 1000
        self._retry_after = retry_after
        self._stats = stats
        self._inserters = inserters
        # Bounded by the receiver's InflightLimiter (bytes), not by item count.
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        # At most one batch waits for a free inserter. While it waits, new requests pile up in
        # ``_queue`` and the next batch takes them all at once: under load batches grow (up to
        # batch_max_rows), which matters because each insert has a fixed cost of tens of ms in
        # ClickHouse (planning the flattening view) whatever its size.
        self._batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._run_batcher, name="embedded-batcher", daemon=True)]
        self._threads += [
            threading.Thread(target=self._run_inserter, name=f"embedded-inserter-{n}", daemon=True)
            for n in range(self._inserters)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._queue.put(None)  # drains: the batcher passes the stop on to each inserter
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []

    async def submit(self, export: AcceptedExport) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(envelope(export.protobuf(), export.tenant), export.spans, done, loop))
        await done

    def _run_batcher(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._collect()
            if items:
                self._batches.put(_Batch(items))
        for _ in range(self._inserters):
            self._batches.put(None)

    def _run_inserter(self) -> None:
        client = self._client_factory()
        while (work := self._batches.get()) is not None:
            error = self._insert_with_retries(client, work, f"embedded-{uuid.uuid4().hex}")
            for item in work.items:
                item.loop.call_soon_threadsafe(_settle, item.done, error)

    def _collect(self) -> tuple[list[_Pending], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch, rows = [first], first.spans
        deadline = time.monotonic() + self._max_delay
        while rows < self._max_rows:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            rows += item.spans
        return batch, False

    def _insert_with_retries(self, client: Client, batch: _Batch, token: str) -> Exception | None:
        attempt = 0
        while attempt < _INSERT_ATTEMPTS and batch.items:
            try:
                self._stats.stored(insert_envelopes(client, batch.envelopes, batch.spans, token))
                return None
            except Exception as error:  # noqa: BLE001 - any storage failure is reported back
                if is_format_error(error) and self._refuse_unparsable(client, batch):
                    continue  # the rest of the batch goes in now, as a new attempt
                log.warning("insert failed (attempt %d): %s", attempt + 1, self._stats.store_failed(error))
                attempt += 1
                time.sleep(0.2 * attempt)
        return None if not batch.items else Overloaded("storage unavailable; retry later", self._retry_after)

    def _refuse_unparsable(self, client: Client, batch: _Batch) -> bool:
        """Answer the requests ClickHouse cannot parse with 400 and drop them from ``batch``.

        One malformed client must not make every other client's export fail with it.
        """
        try:
            bad = set(unparsable(client, batch.envelopes))
        except Exception:  # noqa: BLE001 - an outage meanwhile: retried as one
            return False
        for index in sorted(bad):
            item = batch.items[index]
            item.loop.call_soon_threadsafe(_settle, item.done, _UNPARSABLE)
        batch.items = [item for index, item in enumerate(batch.items) if index not in bad]
        log.warning("refused %d request(s) that ClickHouse cannot parse", len(bad))
        return bool(bad)


_UNPARSABLE = MalformedRequest(
    "request does not match the OTLP protobuf schema (e.g. a field of the wrong wire type)")


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
