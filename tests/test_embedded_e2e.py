"""End to end on the embedded default: stock OTel SDK exporters -> receiver -> chDB."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from fleetwatch.config import Settings
from fleetwatch.service import DETECTORS, RECEIVER, Service
from tests.support.otel import sdk_spans
from tests.support.service import running_service


@pytest.fixture
def service(settings: Settings, ch: Client) -> Iterator[Service]:
    with running_service(settings, {RECEIVER, DETECTORS}) as running:
        yield running


def _stored_seqs(ch: Client, service_name: str) -> list[int]:
    rows = ch.query(
        "SELECT toUInt64(SpanAttributes['test.seq']) FROM otel_traces WHERE ServiceName = {s:String}",
        parameters={"s": service_name},
    ).result_rows
    return sorted(row[0] for row in rows)


def test_http_exporter_spans_are_queryable_at_once(service: Service, ch: Client) -> None:
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces")
    started = time.monotonic()
    assert exporter.export(sdk_spans(300, service="http-agent")) == SpanExportResult.SUCCESS
    # The receiver answers only after the write: the spans are queryable when export returns.
    assert _stored_seqs(ch, "http-agent") == list(range(300))
    assert time.monotonic() - started < 5


def test_http_exporter_with_gzip(service: Service, ch: Client) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    exporter = HttpExporter(
        endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces", compression=Compression.Gzip
    )
    assert exporter.export(sdk_spans(50, service="gzip-agent")) == SpanExportResult.SUCCESS
    assert _stored_seqs(ch, "gzip-agent") == list(range(50))


def test_grpc_exporter_spans_are_stored(service: Service, ch: Client) -> None:
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{service.grpc_port}", insecure=True)
    assert exporter.export(sdk_spans(120, service="grpc-agent")) == SpanExportResult.SUCCESS
    assert _stored_seqs(ch, "grpc-agent") == list(range(120))
    exporter.shutdown()


def test_tenant_is_stamped_and_client_value_overwritten(service: Service, ch: Client) -> None:
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces")
    spans = sdk_spans(5, service="spoofer", resource_attributes={"fleet.tenant.id": "someone-else"})
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    tenants = ch.query("SELECT DISTINCT TenantId FROM otel_traces WHERE ServiceName = 'spoofer'").result_rows
    assert tenants == [("default",)]


def test_status_endpoint_counts(service: Service) -> None:
    import httpx

    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{service.http_port}/v1/traces")
    exporter.export(sdk_spans(7, service="counted"))
    status = httpx.get(f"http://127.0.0.1:{service.admin_port}/status").json()
    assert status["mode"] == "embedded"
    assert status["ingest"]["spans_accepted"] == 7
    assert status["ingest"]["spans_stored"] == 7
