"""``fleetwatch ingest``: the Kafka -> ClickHouse loader (one consumer-group member).

The chain per poll: decode -> dead-letter the poison -> insert -> commit. Offsets are committed
only after the insert succeeded. Exactly-once into ClickHouse comes from two things together:

- every insert carries ``insert_deduplication_token`` built from its offset ranges, so a retry of
  the same batch (ours or clickhouse-connect's) is dropped by ClickHouse;
- every row keeps its Kafka partition and offset, and when a partition is assigned the loader
  seeks past the highest offset already stored. A crash between insert and commit therefore
  re-reads nothing that is already in ClickHouse, whatever batch boundaries come next time.

While ClickHouse is down the loader pauses its partitions, keeps its group membership alive,
retries the same batch with backoff, and commits nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from collector.dlq import DeadLetters
from collector.kafka_config import consumer_config, producer_config
from collector.load_batch import LoadBatch, build_batch
from collector.stats import IngestStats
from collector.stored_offsets import stored_offsets
from collector.unparsable import is_format_error, unparsable
from collector.writer import insert_envelopes
from fleetwatch.config import Settings

log = logging.getLogger(__name__)

COMMIT_DELAY_FAILPOINT = "FLEETWATCH_FAILPOINT_COMMIT_DELAY_SECONDS"

Records = dict[TopicPartition, list[ConsumerRecord]]

_MAX_BACKOFF = 10.0


class BatchAbandoned(Exception):
    """The batch's partitions were revoked mid-retry; their new owner will load them."""


class KafkaLoader:
    def __init__(self, settings: Settings, client_factory: Callable[[], Client],
                 stats: IngestStats) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self.stats = stats
        self._consumer: KafkaConsumer | None = None
        self._client: Client | None = None
        self._dead_letters: DeadLetters | None = None
        self._unverified: set[TopicPartition] = set()
        self._revoked = False
        # Fault-injection tests widen the window between insert and commit so that a SIGKILL
        # lands inside it; never set in production.
        self._failpoint_commit_delay = float(os.environ.get(COMMIT_DELAY_FAILPOINT, "0") or 0)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        self._client = self._client_factory()
        producer = KafkaProducer(**producer_config(self._settings))
        self._dead_letters = DeadLetters(
            producer, self._settings.kafka_dlq_topic, self._settings.dlq_max_ratio
        )
        self._consumer = KafkaConsumer(**consumer_config(self._settings))
        self._consumer.subscribe([self._settings.kafka_topic], listener=_Listener(self))

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def run(self, stop: threading.Event) -> None:
        self.open()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    # -- one poll ---------------------------------------------------------------------------
    def step(self, timeout_ms: int = 500) -> int:
        """Poll once and load what came; returns the number of rows stored."""
        batch = self._next_batch(timeout_ms)
        if batch is None:
            return 0
        assert self._dead_letters is not None
        self._dead_letters.observe(batch.good, len(batch.poison))
        self._dead_letters.route(batch.poison)
        try:
            self._store(batch)
        except BatchAbandoned:
            self._rewind(batch)
            log.info("rebalance during retry: abandoned batch %s", batch.dedup_token())
            return 0
        if self._failpoint_commit_delay:
            time.sleep(self._failpoint_commit_delay)
        self._commit(batch)
        return batch.rows

    def _next_batch(self, timeout_ms: int) -> LoadBatch | None:
        """What one poll returns, then more while more is already arriving.

        Each insert has a fixed cost (tens of ms to plan the flattening view), and one poll
        returns only what the fetcher holds (a few MiB), so the loader keeps polling until
        ``batch_max_rows`` spans, ``batch_max_delay_ms``, or a poll that brings nothing. On a quiet
        topic that last poll adds up to ``batch_max_delay_ms`` to the time to queryable.
        """
        consumer = self._require_consumer()
        records = self._reconcile(consumer.poll(timeout_ms=timeout_ms))
        if not records:
            return None
        self._revoked = False
        batch = self._build(records)
        deadline = time.monotonic() + self._settings.batch_max_delay_ms / 1000
        while batch.rows < self._settings.batch_max_rows:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = self._reconcile(consumer.poll(timeout_ms=left_ms))
            if self._revoked:
                # Nothing of it is stored or committed. Partitions that went elsewhere are re-read
                # by their new owners from the committed offsets; those this consumer kept are
                # rewound (kafka-python keeps a retained partition's position).
                batch.extend(self._build(more))
                self._rewind(batch)
                log.info("rebalance while filling a batch: left %s unstored", batch.dedup_token())
                return None
            if not more:
                break
            batch.extend(self._build(more))
        return batch

    def _build(self, records: Records) -> LoadBatch:
        return build_batch(records, {self._settings.kafka_topic: self._topic_id()})

    def _store(self, batch: LoadBatch) -> None:
        delay = 0.2
        while True:
            try:
                self.stats.stored(insert_envelopes(
                    self._require_client(), batch.envelopes, batch.rows, batch.dedup_token()))
                return
            except Exception as error:  # noqa: BLE001 - storage outage: retry, never skip
                if is_format_error(error) and self._dead_letter_unparsable(batch):
                    continue
                self._note_failure(error)
            self._wait_paused(batch.ranges, delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    def _dead_letter_unparsable(self, batch: LoadBatch) -> bool:
        """Send the messages ClickHouse cannot parse to the dead-letter topic; True if any."""
        try:
            bad = set(unparsable(self._require_client(), batch.envelopes))
        except Exception:  # noqa: BLE001 - an outage meanwhile: the batch is retried whole
            return False
        if bad:
            assert self._dead_letters is not None
            self._dead_letters.route(batch.set_apart(bad, "ClickHouse cannot parse this OTLP message"))
        return bool(bad)

    def _wait_paused(self, ranges: Iterable[TopicPartition], delay: float) -> None:
        consumer = self._require_consumer()
        held = list(ranges)
        consumer.pause(*consumer.assignment())
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            # Polling keeps group membership alive; paused partitions return nothing.
            self._hold_back(consumer.poll(timeout_ms=100), list(consumer.assignment()))
            if self._revoked or not set(held) <= consumer.assignment():
                raise BatchAbandoned()
        consumer.resume(*consumer.assignment())

    def _rewind(self, batch: LoadBatch) -> None:
        """Read an unstored batch again on the partitions this consumer still holds."""
        consumer = self._require_consumer()
        held = consumer.assignment()
        for tp, (first, _) in batch.ranges.items():
            if tp in held:
                consumer.seek(tp, first)

    def _commit(self, batch: LoadBatch) -> None:
        self._commit_offsets({tp: OffsetAndMetadata(hi + 1, "", -1) for tp, (_, hi) in batch.ranges.items()})

    def _commit_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            self._require_consumer().commit(offsets=offsets)
        except CommitFailedError as error:
            # The rows are stored; the partition's next owner seeks past them (see module doc).
            log.warning("commit failed after a rebalance: %s", error)

    # -- partition assignment ---------------------------------------------------------------
    # kafka-python runs rebalance callbacks on its IO thread, where consumer calls would block:
    # the callbacks only record what changed, and the poll loop acts on it.
    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._unverified |= assigned

    def on_revoked(self) -> None:
        self._revoked = True
        self._unverified.clear()

    def _reconcile(self, records: Records) -> Records:
        """Skip, on newly assigned partitions, every offset ClickHouse already holds."""
        if not self._unverified:
            return records
        consumer = self._require_consumer()
        fresh = sorted(self._unverified & consumer.assignment())
        try:
            topic = self._settings.kafka_topic
            stored = stored_offsets(self._require_client(), topic, self._topic_id(), fresh)
        except Exception as error:  # noqa: BLE001 - hold the partitions until ClickHouse answers
            self._note_failure(error)
            return self._hold_back(records, fresh)
        kept = {tp: msgs for tp, msgs in records.items() if tp not in self._unverified}
        # With the topic's id, stored offsets are this incarnation's by construction.
        trusted = stored if self._topic_id() else self._trusted_stored(fresh, stored)
        caught_up: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in fresh:
            done = trusted.get(tp.partition, -1)
            returned = records.get(tp, [])
            unseen = [m for m in returned if m.offset > done]
            if len(unseen) < len(returned):
                log.info("partition %s: skipped %d offsets already stored (through %d)",
                         tp.partition, len(returned) - len(unseen), done)
                caught_up[tp] = OffsetAndMetadata(done + 1, "", -1)
            if unseen:
                kept[tp] = unseen
            elif consumer.position(tp) <= done:
                consumer.seek(tp, done + 1)
        consumer.resume(*fresh)
        self._unverified.clear()
        if caught_up:  # record it, so the next owner does not re-read what was skipped
            self._commit_offsets(caught_up)
        return kept

    def _trusted_stored(self, fresh: list[TopicPartition], stored: dict[int, int]) -> dict[int, int]:
        """Stored offsets that describe this incarnation of the topic.

        With no committed offset (a new group, or a topic deleted and re-created) the stored
        offsets are trusted only while the partition's log actually reaches them, so a re-created
        topic's first messages are not skipped as "already stored". Used only when the broker
        reports no topic ids (before metadata v10): then a re-created topic whose new log has
        already grown past the old stored offsets is not recognised.
        """
        consumer = self._require_consumer()
        ends = consumer.end_offsets(fresh)
        trusted = {}
        for tp in fresh:
            done = stored.get(tp.partition)
            if done is None:
                continue
            if consumer.committed(tp) is not None or done < ends.get(tp, 0):
                trusted[tp.partition] = done
        return trusted

    def _hold_back(self, records: Records, fresh: list[TopicPartition]) -> Records:
        consumer = self._require_consumer()
        for tp in fresh:
            if tp in records:
                consumer.seek(tp, records[tp][0].offset)
        consumer.pause(*fresh)
        return {tp: msgs for tp, msgs in records.items() if tp not in fresh}

    def _topic_id(self) -> str:
        """The spans topic's id from cluster metadata ('' if the broker does not report one).

        kafka-python keeps topic ids from metadata v10+ on its cluster object, which the
        consumer does not expose publicly.
        """
        consumer = self._require_consumer()
        found = consumer._client.cluster.topic_id(self._settings.kafka_topic)
        return "" if found is None else str(found)

    def settled(self) -> bool:
        """Assigned partitions, all reconciled with what ClickHouse holds (for tests, status)."""
        consumer = self._consumer
        return consumer is not None and bool(consumer.assignment()) and not self._unverified

    # -- helpers ----------------------------------------------------------------------------
    def partitions(self) -> set[int]:
        """The partitions this group member holds now."""
        consumer = self._consumer
        return set() if consumer is None else {tp.partition for tp in consumer.assignment()}

    def lag(self) -> int | None:
        consumer = self._consumer
        if consumer is None:
            return None
        total = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                return None
            total += max(0, high - consumer.position(tp))
        return total

    def _note_failure(self, error: BaseException) -> None:
        log.warning("ClickHouse unavailable, retrying: %s", self.stats.store_failed(error))

    def _require_consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("KafkaLoader.open() was not called")
        return self._consumer

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError("KafkaLoader.open() was not called")
        return self._client


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loader: KafkaLoader) -> None:
        self._loader = loader

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._loader.on_revoked()

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loader.on_assigned(set(assigned))


