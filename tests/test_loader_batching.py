"""The loader merges consecutive polls into one insert: each insert has a fixed cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

import collector.loader as loader_module
from collector.kafka_config import consumer_config
from collector.load_batch import build_batch
from collector.loader import KafkaLoader
from collector.stats import IngestStats
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from tests.support.otel import sdk_request
from tests.support.tansu import TansuBroker
from tests.test_kafka_e2e import kafka_settings


def _records(partition: int, offsets: range, spans: int) -> dict[TopicPartition, list[SimpleNamespace]]:
    value = sdk_request(spans, service=f"p{partition}").SerializeToString()
    return {TopicPartition("t", partition): [SimpleNamespace(offset=o, value=value) for o in offsets]}


def test_extended_batch_equals_one_batch_of_all_records() -> None:
    first = {**_records(0, range(5, 8), 2), **_records(1, range(0, 2), 3)}
    later = {**_records(0, range(8, 10), 2), **_records(2, range(4, 5), 1)}
    merged = build_batch(first, {})
    merged.extend(build_batch(later, {}))
    whole = build_batch({**first, TopicPartition("t", 0): first[TopicPartition("t", 0)]
                         + later[TopicPartition("t", 0)], TopicPartition("t", 2): later[TopicPartition("t", 2)]}, {})
    assert merged.ranges == whole.ranges == {
        TopicPartition("t", 0): (5, 9), TopicPartition("t", 1): (0, 1), TopicPartition("t", 2): (4, 4)}
    assert merged.dedup_token() == whole.dedup_token()
    assert merged.rows == whole.rows == 5 * 2 + 2 * 3 + 1
    assert sorted(merged.envelopes) == sorted(whole.envelopes)  # order within an insert does not matter


MESSAGES = 48


@pytest.mark.kafka
def test_waiting_messages_are_loaded_in_one_insert(settings: Settings, ch: Client, tansu: TansuBroker,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = kafka_settings(settings, tansu, batch_max_delay_ms=3000, batch_max_rows=100_000)
    inserts: list[int] = []
    real_insert = loader_module.insert_envelopes

    def counted(client: Client, envelopes: Sequence[bytes], spans: int, token: str | None = None) -> int:
        inserts.append(spans)
        return real_insert(client, envelopes, spans, token)

    monkeypatch.setattr(loader_module, "insert_envelopes", counted)
    loader = KafkaLoader(config, lambda: connect(config), IngestStats())
    loader.open()
    try:
        while not loader.settled():  # joined the group, nothing to read yet
            loader.step(timeout_ms=200)
        # About 2.6 MB per partition: more than one fetch returns (Tansu answers about 1 MB).
        message = sdk_request(2000, service="waiting").SerializeToString()
        producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all", max_request_size=1 << 20)
        for number in range(MESSAGES):
            producer.send(config.kafka_topic, message, partition=number % 3)
        producer.flush()
        stored = 0
        while stored < MESSAGES * 2000:
            stored += loader.step(timeout_ms=5000)
    finally:
        loader.close()
    assert inserts == [MESSAGES * 2000]
    assert ch.query("SELECT count(), uniqExact(KafkaPartition, KafkaOffset) FROM otel_traces").result_rows[0] \
        == (MESSAGES * 2000, MESSAGES)


@pytest.mark.kafka
def test_rebalance_while_filling_loses_nothing(settings: Settings, ch: Client, tansu: TansuBroker) -> None:
    """A member joins while the loader is filling a batch; it then leaves without committing.

    The loader drops its unstored batch. On the partitions it keeps, kafka-python keeps its read
    position past that batch, so the loader must rewind them or those spans are never stored.
    """
    config = kafka_settings(settings, tansu, batch_max_delay_ms=20_000, batch_max_rows=1_000_000)
    loader = KafkaLoader(config, lambda: connect(config), IngestStats())
    loader.open()
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    sent, stop = [0], threading.Event()

    def trickle() -> None:  # keeps every fill poll non-empty, so the fill is still going on
        while not stop.is_set():
            producer.send(config.kafka_topic, sdk_request(5, service="trickle").SerializeToString(),
                          partition=sent[0] % 3)
            sent[0] += 1
            time.sleep(0.05)

    def visitor() -> None:  # joins the group, reads, commits nothing, leaves
        member = KafkaConsumer(**consumer_config(config))
        member.subscribe([config.kafka_topic])
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            member.poll(timeout_ms=200)
        member.close(autocommit=False)

    try:
        while not loader.settled():
            loader.step(timeout_ms=200)
        producing = threading.Thread(target=trickle, daemon=True)
        producing.start()
        time.sleep(1)
        joining = threading.Thread(target=visitor, daemon=True)
        joining.start()
        loader.step(timeout_ms=5000)  # fills until the rebalance, then leaves the batch unstored
        stop.set()
        producing.join()
        producer.flush()
        joining.join()
        deadline = time.monotonic() + 60
        while loader.stats.as_dict()["spans_stored"] < sent[0] * 5 and time.monotonic() < deadline:
            loader.step(timeout_ms=500)
    finally:
        loader.close()
    assert loader.stats.as_dict()["spans_stored"] == sent[0] * 5
    assert ch.query("SELECT count(), uniqExact(KafkaPartition, KafkaOffset) FROM otel_traces").result_rows[0] \
        == (sent[0] * 5, sent[0])
