"""Fault injection with real components: SIGKILLed loader, ClickHouse refusing writes, broker outage.

Every span carries a unique (TraceId, SpanId); loss and duplication are counted exactly.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaAdminClient, KafkaProducer

from collector.kafka_topics import ensure_topics
from collector.loader import COMMIT_DELAY_FAILPOINT
from fleetwatch.config import Settings
from fleetwatch.service import LOADER, RECEIVER
from tests.support.loader_process import LoaderProcess
from tests.support.otel import sdk_request
from tests.support.service import running_service
from tests.support.tansu import TansuBroker
from tests.test_kafka_e2e import kafka_settings, wait_for_rows

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KILLS = int(os.environ.get("FLEETWATCH_TEST_FAULT_KILLS", "20"))  # reliability.md: 20 kills


def _produce_all(settings: Settings, payloads: list[bytes], pause: float) -> threading.Thread:
    def produce() -> None:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        for payload in payloads:
            producer.send(settings.kafka_topic, payload)
            time.sleep(pause)
        producer.flush()
        producer.close()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    return thread


class SteadyProducer:
    """Produces 50-span requests every ``pause`` seconds until stopped; counts what it sent."""

    def __init__(self, settings: Settings, pause: float) -> None:
        self._settings = settings
        self._pause = pause
        self._stop = threading.Event()
        self.spans = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self._settings.kafka_bootstrap, acks="all")
        while not self._stop.is_set():
            producer.send(self._settings.kafka_topic, sdk_request(50, service="steady").SerializeToString()).get(30)
            self.spans += 50
            time.sleep(self._pause)
        producer.close()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.spans


def test_sigkilled_loader_loses_and_duplicates_nothing(settings: Settings, tansu: TansuBroker, tmp_path: Path) -> None:
    configured = kafka_settings(settings, tansu)
    ensure_topics(configured)
    producing = SteadyProducer(configured, pause=0.05)
    log_path = tmp_path / "loader.log"
    # The failpoint holds each batch between insert and commit, so kills land inside that window.
    loader = LoaderProcess(configured, tmp_path / "chdb", log_path, {COMMIT_DELAY_FAILPOINT: "0.5"})
    rng = random.Random(7)
    for _ in range(KILLS):
        loader.start()
        loader.wait_ready()
        time.sleep(rng.uniform(2.5, 4.5))  # joins the group (~3 s), then loads for a while
        loader.kill()
    expected = producing.stop()
    loader.start()
    loader.wait_ready()
    started = time.monotonic()
    summary = loader.storage()
    while summary["spans"] < expected and time.monotonic() - started < 90:
        time.sleep(0.5)
        summary = loader.storage()
    drained_in = time.monotonic() - started
    assert loader.terminate() == 0
    assert summary["distinct_spans"] == expected, summary
    assert summary["duplicate_spans"] == 0, summary
    assert drained_in < 60
    # Proof that some kills landed between insert and commit (and were not re-inserted).
    assert "already stored" in log_path.read_text()


def test_clickhouse_outage_commits_nothing_and_loses_nothing(
    settings: Settings, ch: Client, tansu: TansuBroker
) -> None:
    configured = kafka_settings(settings, tansu)
    ensure_topics(configured)
    admin = KafkaAdminClient(bootstrap_servers=tansu.bootstrap)
    with running_service(configured, {LOADER}) as service:
        first = [sdk_request(20).SerializeToString() for _ in range(10)]
        _produce_all(configured, first, pause=0.0).join()
        assert wait_for_rows(ch, 200) == 200
        committed_before = admin.list_group_offsets(configured.kafka_group)
        ch.command("DETACH TABLE otel_traces")  # ClickHouse refuses every insert and query
        try:
            outage = [sdk_request(20).SerializeToString() for _ in range(15)]
            _produce_all(configured, outage, pause=0.0).join()
            time.sleep(6)  # longer than the group's session timeout: membership must survive
            assert admin.list_group_offsets(configured.kafka_group) == committed_before
            assert service.failure is None
            assert service.stats.store_failures > 0
        finally:
            ch.command("ATTACH TABLE otel_traces")
        assert wait_for_rows(ch, 500) == 500
        time.sleep(1)
        assert ch.query("SELECT count(), uniqExact(TraceId, SpanId) FROM otel_traces").result_rows[0] == (500, 500)
    admin.close()


def test_broker_outage_never_answers_200_for_dropped_data(settings: Settings, ch: Client, tmp_path: Path) -> None:
    """Stop the broker under load: the receiver answers only 503 with Retry-After until it is back.

    Tansu here stores in memory, so its restart is a new, empty broker (topics re-created), not a
    real Kafka restart that keeps its log. So the test checks the receiver's promise directly:
    everything answered 200 before the outage was loaded; during it, only 503 + Retry-After;
    after it, every request answered 200 is in the new broker's topic (read back from Kafka).
    """
    broker = TansuBroker(tmp_path)
    broker.start()
    configured = kafka_settings(settings, broker)
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        with running_service(configured, {RECEIVER}) as receiver, running_service(configured, {LOADER}):
            url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
            for _ in range(5):
                assert httpx.post(url, content=sdk_request(10).SerializeToString(), headers=headers).status_code == 200
            assert wait_for_rows(ch, 50) == 50
        with running_service(configured, {RECEIVER}) as receiver:
            url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
            broker.stop()
            for _ in range(3):
                reply = httpx.post(url, content=sdk_request(10).SerializeToString(), headers=headers, timeout=30)
                assert reply.status_code == 503 and reply.headers.get("Retry-After"), reply.status_code
            broker.start()
            ensure_topics(configured)
            acknowledged = _send_until_accepted(url, headers, requests=3)
            assert receiver.failure is None
        assert _spans_in_topic(configured) >= 10 * acknowledged
    finally:
        broker.stop()


def _send_until_accepted(url: str, headers: dict[str, str], requests: int) -> int:
    """Send ``requests`` requests, each retried on 503 as an OTLP client would; count the 200s."""
    accepted = 0
    deadline = time.monotonic() + 90
    while accepted < requests and time.monotonic() < deadline:
        reply = httpx.post(url, content=sdk_request(10).SerializeToString(), headers=headers, timeout=30)
        if reply.status_code == 200:
            accepted += 1
            continue
        assert reply.status_code == 503, reply.status_code
        time.sleep(float(reply.headers.get("Retry-After", "1")))
    assert accepted == requests
    return accepted


def _spans_in_topic(settings: Settings) -> int:
    from kafka import KafkaConsumer
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    consumer = KafkaConsumer(settings.kafka_topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=10_000)
    spans = 0
    for message in consumer:
        traces = TracesData.FromString(message.value)
        spans += sum(len(ss.spans) for rs in traces.resource_spans for ss in rs.scope_spans)
    consumer.close()
    return spans


def test_loaders_rebalance_without_loss_or_duplicates(settings: Settings, ch: Client, tansu: TansuBroker) -> None:
    """Two consumer-group members share the partitions; one leaves mid-stream; the other takes over."""
    configured = kafka_settings(settings, tansu, kafka_topic_partitions=4)
    ensure_topics(configured)
    producing = SteadyProducer(configured, pause=0.02)
    with running_service(configured, {LOADER}) as first:
        with running_service(configured, {LOADER}) as second:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (not first.stats.spans_stored or not second.stats.spans_stored):
                time.sleep(0.2)
            assert first.stats.spans_stored and second.stats.spans_stored  # both held partitions
        time.sleep(3)  # the first member alone after the rebalance
        expected = producing.stop()
        assert wait_for_rows(ch, expected) == expected
        time.sleep(1)
    assert ch.query("SELECT count(), uniqExact(TraceId, SpanId) FROM otel_traces").result_rows[0] == (expected, expected)
