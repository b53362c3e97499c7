"""End to end through a real Kafka-protocol broker (Tansu): SDK -> receiver -> Kafka -> loader -> chDB."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import SpanExportResult

from fleetwatch.config import Settings
from fleetwatch.service import LOADER, RECEIVER, Service
from tests.support.otel import sdk_request, sdk_spans, wire_type_mismatch_request
from tests.support.service import running_service
from tests.support.tansu import TansuBroker

pytestmark = pytest.mark.kafka


def kafka_settings(settings: Settings, tansu: TansuBroker, **extra: object) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return settings.model_copy(update={
        "kafka_bootstrap": tansu.bootstrap,
        "kafka_topic": f"otlp_spans_{suffix}",
        "kafka_dlq_topic": f"otlp_spans_dlq_{suffix}",
        "kafka_group": f"loader_{suffix}",
        "kafka_topic_partitions": 3,
        "kafka_fast_rebalance": True,
        **extra,
    })


@pytest.fixture
def kafka_service(settings: Settings, ch: Client, tansu: TansuBroker) -> Iterator[Service]:
    with running_service(kafka_settings(settings, tansu), {RECEIVER, LOADER}) as running:
        yield running


def wait_for_rows(ch: Client, expected: int, where: str = "1", timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = int(ch.query(f"SELECT count() FROM otel_traces WHERE {where}").result_rows[0][0])
        if count >= expected:
            return count
        time.sleep(0.2)
    return count


def seqs(ch: Client, service_name: str) -> list[int]:
    rows = ch.query(
        "SELECT toUInt64(SpanAttributes['test.seq']) FROM otel_traces WHERE ServiceName = {s:String}",
        parameters={"s": service_name},
    ).result_rows
    return sorted(r[0] for r in rows)


def test_http_and_grpc_exporters_through_kafka(kafka_service: Service, ch: Client) -> None:
    http = HttpExporter(endpoint=f"http://127.0.0.1:{kafka_service.http_port}/v1/traces")
    grpc_exporter = GrpcExporter(endpoint=f"127.0.0.1:{kafka_service.grpc_port}", insecure=True)
    for chunk in range(5):
        spans = sdk_spans(100, service="kafka-http")
        assert http.export(spans) == SpanExportResult.SUCCESS, chunk
    assert grpc_exporter.export(sdk_spans(200, service="kafka-grpc")) == SpanExportResult.SUCCESS
    grpc_exporter.shutdown()
    assert wait_for_rows(ch, 700) == 700
    assert seqs(ch, "kafka-grpc") == list(range(200))
    assert len(seqs(ch, "kafka-http")) == 500
    provenance = ch.query(
        "SELECT uniqExact(KafkaPartition), min(KafkaOffset) >= 0, any(KafkaTopic) FROM otel_traces"
    ).result_rows[0]
    assert provenance[1] == 1 and provenance[2] == kafka_service.settings.kafka_topic


def test_messages_are_collector_otlp_proto(kafka_service: Service, tansu: TansuBroker) -> None:
    http = HttpExporter(endpoint=f"http://127.0.0.1:{kafka_service.http_port}/v1/traces")
    assert http.export(sdk_spans(3, service="wire")) == SpanExportResult.SUCCESS
    consumer = KafkaConsumer(
        kafka_service.settings.kafka_topic, bootstrap_servers=tansu.bootstrap,
        auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=10_000,
    )
    message = next(iter(consumer))
    consumer.close()
    traces = TracesData.FromString(message.value)  # the Collector's otlp_proto: TracesData
    spans = [s for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 3
    tenant = {kv.key: kv.value.string_value for kv in traces.resource_spans[0].resource.attributes}
    assert tenant["fleet.tenant.id"] == "default"


def test_collector_written_messages_are_loaded(kafka_service: Service, ch: Client, tansu: TansuBroker) -> None:
    """An existing Collector's kafka exporter (otlp_proto or otlp_json) can feed fleetwatch."""
    from google.protobuf import json_format

    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    topic = kafka_service.settings.kafka_topic
    producer.send(topic, sdk_request(4, service="collector-proto").SerializeToString())
    as_json = json_format.MessageToDict(sdk_request(2, service="collector-json"))
    for span in as_json["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        import base64

        span["traceId"] = base64.b64decode(span["traceId"]).hex()
        span["spanId"] = base64.b64decode(span["spanId"]).hex()
    import json

    producer.send(topic, json.dumps(as_json).encode())
    producer.flush()
    assert wait_for_rows(ch, 6) == 6
    assert seqs(ch, "collector-json") == [0, 1]


def test_large_request_is_split_under_message_limit(settings: Settings, ch: Client, tansu: TansuBroker) -> None:
    limited = kafka_settings(settings, tansu, kafka_max_message_bytes=64 * 1024)
    with running_service(limited, {RECEIVER, LOADER}) as service:
        request = sdk_request(400, service="big", attributes={"blob": "y" * 1000})
        assert request.ByteSize() > 5 * 64 * 1024
        http = HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces")
        from tests.support.otel import sdk_spans as spans_of

        assert http.export(spans_of(400, service="big", attributes={"blob": "y" * 1000})) == SpanExportResult.SUCCESS
        assert wait_for_rows(ch, 400) == 400
        assert seqs(ch, "big") == list(range(400))
        offsets = ch.query("SELECT uniqExact(KafkaPartition, KafkaOffset) FROM otel_traces").result_rows[0][0]
        assert offsets >= 5


def first_dead_letter(settings: Settings, tansu: TansuBroker) -> ConsumerRecord:
    consumer = KafkaConsumer(
        settings.kafka_dlq_topic, bootstrap_servers=tansu.bootstrap,
        auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=15_000,
    )
    dead: ConsumerRecord = next(iter(consumer))
    consumer.close()
    return dead


def test_poison_messages_go_to_dead_letter_topic(kafka_service: Service, ch: Client, tansu: TansuBroker) -> None:
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    topic = kafka_service.settings.kafka_topic
    producer.send(topic, b"\xff\xfe definitely not protobuf", partition=0)
    producer.send(topic, sdk_request(5, service="after-poison").SerializeToString(), partition=0)
    producer.flush()
    assert wait_for_rows(ch, 5) == 5
    dead = first_dead_letter(kafka_service.settings, tansu)
    headers = dict(dead.headers)
    assert dead.value == b"\xff\xfe definitely not protobuf"
    assert headers["fleetwatch.origin.topic"] == topic.encode()
    assert headers["fleetwatch.origin.partition"] == b"0"
    assert headers["fleetwatch.origin.offset"] == b"0"
    assert headers["fleetwatch.error"]


def test_message_clickhouse_cannot_parse_is_dead_lettered(
    kafka_service: Service, ch: Client, tansu: TansuBroker,
) -> None:
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    topic = kafka_service.settings.kafka_topic
    producer.send(topic, sdk_request(3, service="before").SerializeToString(), partition=1)
    producer.send(topic, wire_type_mismatch_request(), partition=1)
    producer.send(topic, sdk_request(5, service="after").SerializeToString(), partition=1)
    producer.flush()
    assert wait_for_rows(ch, 8) == 8
    dead = first_dead_letter(kafka_service.settings, tansu)
    assert dead.value == wire_type_mismatch_request()
    assert dict(dead.headers)["fleetwatch.origin.offset"] == b"1"


def test_two_consumers_in_one_loader_share_the_partitions(settings: Settings, ch: Client,
                                                          tansu: TansuBroker) -> None:
    two = kafka_settings(settings, tansu, loader_consumers=2)
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    with running_service(two, {LOADER}) as service:
        for partition in range(3):
            for batch in range(4):
                request = sdk_request(10, service=f"p{partition}", attributes={"test.batch": batch})
                producer.send(two.kafka_topic, request.SerializeToString(), partition=partition)
        producer.flush()
        assert wait_for_rows(ch, 120) == 120
        assert ch.query("SELECT uniqExact(KafkaPartition, KafkaOffset), count() FROM otel_traces").result_rows[0] \
            == (12, 120)
        assert service.status()["ingest"]["spans_stored"] == 120  # type: ignore[index]
        # Both members hold partitions once the group has settled (3 partitions over 2 members).
        deadline = time.monotonic() + 20
        while not all(service.loader_partitions()) and time.monotonic() < deadline:
            time.sleep(0.2)
        first, second = service.loader_partitions()
        assert first and second and not first & second and first | second == {0, 1, 2}


def test_burst_of_only_bad_records_halts_the_loader(settings: Settings, ch: Client, tansu: TansuBroker) -> None:
    halting = kafka_settings(settings, tansu)
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    with running_service(halting, {LOADER}) as service:
        for i in range(150):
            producer.send(halting.kafka_topic, f"garbage {i}".encode())
        producer.flush()
        deadline = time.monotonic() + 60
        while service.failure is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert service.failure is not None and "halting" in str(service.failure)
    assert wait_for_rows(ch, 1, timeout=0.5) == 0


def test_request_tenant_survives_kafka(settings: Settings, ch: Client, tansu: TansuBroker) -> None:
    from pydantic import SecretStr

    secured = kafka_settings(settings, tansu, auth_tokens=SecretStr("s3cret=acme"))
    with running_service(secured, {RECEIVER, LOADER}) as service:
        http = HttpExporter(
            endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces",
            headers={"Authorization": "Bearer s3cret"},
        )
        assert http.export(sdk_spans(4, service="tenant-a")) == SpanExportResult.SUCCESS
        assert wait_for_rows(ch, 4) == 4
    assert ch.query("SELECT DISTINCT TenantId FROM otel_traces").result_rows == [("acme",)]


def test_request_type_is_traces_data_compatible() -> None:
    request = sdk_request(2)
    assert TracesData.FromString(request.SerializeToString()) == TracesData.FromString(
        ExportTraceServiceRequest.FromString(request.SerializeToString()).SerializeToString()
    )
