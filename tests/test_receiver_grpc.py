"""OTLP/gRPC error answers with a real gRPC client: auth, malformed input, overload, size limit."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import SecretStr

from collector.receiver_grpc import SERVICE
from fleetwatch.config import Settings
from fleetwatch.service import RECEIVER, Service
from tests.support.otel import sdk_request
from tests.support.service import running_service

LIMIT = 64 * 1024


@pytest.fixture
def service(settings: Settings, ch: Client) -> Iterator[Service]:
    secured = settings.model_copy(update={"auth_tokens": SecretStr("tok=acme"), "max_body_bytes": LIMIT})
    with running_service(secured, {RECEIVER}) as running:
        yield running


def _export(service: Service, body: bytes, token: str | None = "tok") -> ExportTraceServiceResponse:
    channel = grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    call = channel.unary_unary(f"/{SERVICE}/Export")
    metadata = [("authorization", f"Bearer {token}")] if token else []
    try:
        return ExportTraceServiceResponse.FromString(call(body, metadata=metadata, timeout=10))
    finally:
        channel.close()


def test_success_and_tenant(service: Service, ch: Client) -> None:
    reply = _export(service, sdk_request(4).SerializeToString())
    assert not reply.HasField("partial_success")
    assert ch.query("SELECT count(), any(TenantId) FROM otel_traces").result_rows == [(4, "acme")]


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_token_is_unauthenticated(service: Service, ch: Client, token: str | None) -> None:
    with pytest.raises(grpc.RpcError) as error:
        _export(service, sdk_request(2).SerializeToString(), token=token)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert ch.query("SELECT count() FROM otel_traces").result_rows == [(0,)]


def test_malformed_is_invalid_argument(service: Service) -> None:
    with pytest.raises(grpc.RpcError) as error:
        _export(service, b"\xff\xff\xff")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_over_limit_is_resource_exhausted(service: Service) -> None:
    big = sdk_request(400, attributes={"blob": "b" * 400}).SerializeToString()
    assert len(big) > LIMIT
    with pytest.raises(grpc.RpcError) as error:
        _export(service, big)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_saturated_is_unavailable(service: Service) -> None:
    assert service.ingestor is not None
    with service.ingestor.limiter.hold(service.settings.max_inflight_bytes), pytest.raises(grpc.RpcError) as error:
        _export(service, sdk_request(2).SerializeToString())
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_partial_success_counts(service: Service) -> None:
    request = sdk_request(5)
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b""
    assert _export(service, request.SerializeToString()).partial_success.rejected_spans == 1
