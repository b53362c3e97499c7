"""Produce accepted requests to Kafka (``otlp_spans``, otlp_proto) and wait for acks=all."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future as ThreadFuture

from kafka import KafkaProducer
from kafka.errors import KafkaError

from collector.errors import Overloaded
from collector.kafka_config import producer_config
from collector.sink import AcceptedExport
from collector.split import split_request
from collector.stats import IngestStats
from collector.tenancy import stamp_tenant
from fleetwatch.config import Settings

_RENEW_AFTER_SECONDS = 10.0


class KafkaSink:
    def __init__(self, settings: Settings, stats: IngestStats) -> None:
        self._settings = settings
        self._stats = stats
        self._producer: KafkaProducer | None = None
        self._renewing = threading.Lock()
        self._last_success = time.monotonic()

    def start(self) -> None:
        self._producer = KafkaProducer(**producer_config(self._settings))

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None

    async def submit(self, export: AcceptedExport) -> None:
        # The tenant travels inside the message, so a Collector reading the topic sees it too.
        stamp_tenant(export.request, export.tenant)
        payloads = split_request(export.request, self._settings.kafka_max_message_bytes)
        loop = asyncio.get_running_loop()
        # send() can block (metadata, full buffer) for up to max_block_ms: keep it off the loop.
        acked = await loop.run_in_executor(None, self._produce, payloads)
        try:
            await asyncio.wrap_future(acked)
        except KafkaError as error:
            self._stats.store_failed(error)
            await loop.run_in_executor(None, self._renew_if_stuck)
            raise Overloaded("Kafka unavailable; retry later", self._settings.retry_after_seconds) from error
        self._last_success = time.monotonic()
        self._stats.stored(export.spans)

    def _renew_if_stuck(self) -> None:
        """Replace a producer that has failed for a while.

        An idempotent producer whose broker lost its producer state (a restarted or replaced
        broker) can stay in a fatal state; a new producer starts a new session.
        """
        with self._renewing:
            if time.monotonic() - self._last_success < _RENEW_AFTER_SECONDS:
                return
            old, self._producer = self._producer, None  # the next send builds a new one
            self._last_success = time.monotonic()  # give the new producer its own grace period
        if old is not None:
            old.close(timeout=0)

    def _current_producer(self) -> KafkaProducer:
        with self._renewing:
            if self._producer is None:
                # Raises KafkaError (answered 503) while no broker can be reached.
                self._producer = KafkaProducer(**producer_config(self._settings))
            return self._producer

    def _produce(self, payloads: list[bytes]) -> ThreadFuture[None]:
        everything: ThreadFuture[None] = ThreadFuture()
        remaining = [len(payloads)]
        try:
            producer = self._current_producer()
            sends = [producer.send(self._settings.kafka_topic, value=p) for p in payloads]
        except KafkaError as error:
            everything.set_exception(error)
            return everything

        def settled(_: object) -> None:
            remaining[0] -= 1
            if remaining[0] == 0 and not everything.done():
                everything.set_result(None)

        def failed(error: Exception) -> None:
            if not everything.done():
                everything.set_exception(error)

        for send in sends:
            send.add_callback(settled)
            send.add_errback(failed)
        return everything
