"""OTLP/HTTP conformance: every error answer, limits at +-1 byte, gzip bombs, auth, overload.

Runs the real receiver on the embedded path (chDB); requests are sent with httpx so malformed
bodies can be sent on purpose.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from fleetwatch.config import Settings
from fleetwatch.service import RECEIVER, Service
from tests.support.otel import sdk_request, wire_type_mismatch_request
from tests.support.service import running_service

PROTO = {"Content-Type": "application/x-protobuf"}
LIMIT = 64 * 1024


@pytest.fixture
def service(settings: Settings, ch: Client) -> Iterator[Service]:
    limited = settings.model_copy(update={"max_body_bytes": LIMIT, "auth_tokens": _secret("tok-a=alpha,tok-b=beta")})
    with running_service(limited, {RECEIVER}) as running:
        yield running


def _secret(value: str):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    return SecretStr(value)


def _url(service: Service) -> str:
    return f"http://127.0.0.1:{service.http_port}/v1/traces"


def _auth(token: str = "tok-a") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _count(ch: Client) -> int:
    return int(ch.query("SELECT count() FROM otel_traces").result_rows[0][0])


def test_protobuf_success_returns_export_response(service: Service, ch: Client) -> None:
    reply = httpx.post(_url(service), content=sdk_request(3).SerializeToString(), headers={**PROTO, **_auth()})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/x-protobuf")
    parsed = ExportTraceServiceResponse.FromString(reply.content)
    assert not parsed.HasField("partial_success")
    assert _count(ch) == 3


def test_missing_wrong_and_foreign_tokens(service: Service, ch: Client) -> None:
    body = sdk_request(2).SerializeToString()
    assert httpx.post(_url(service), content=body, headers=PROTO).status_code == 401
    assert httpx.post(_url(service), content=body, headers={**PROTO, **_auth("nope")}).status_code == 401
    assert httpx.post(_url(service), content=body, headers={**PROTO, "Authorization": "Basic tok-a"}).status_code == 401
    assert _count(ch) == 0
    assert httpx.post(_url(service), content=body, headers={**PROTO, **_auth("tok-b")}).status_code == 200
    assert ch.query("SELECT DISTINCT TenantId FROM otel_traces").result_rows == [("beta",)]


def test_unsupported_media_type_is_415(service: Service) -> None:
    reply = httpx.post(_url(service), content=b"hello", headers={"Content-Type": "text/plain", **_auth()})
    assert reply.status_code == 415
    assert "Content-Type" in Status.FromString(reply.content).message


def test_malformed_protobuf_is_400_with_status(service: Service, ch: Client) -> None:
    reply = httpx.post(_url(service), content=b"\xff\xff\xff\xff", headers={**PROTO, **_auth()})
    assert reply.status_code == 400
    status = Status.FromString(reply.content)
    assert status.code == 3 and "protobuf" in status.message
    assert _count(ch) == 0


def test_malformed_json_is_400_with_json_status(service: Service) -> None:
    reply = httpx.post(_url(service), content=b"{not json", headers={"Content-Type": "application/json", **_auth()})
    assert reply.status_code == 400
    assert "invalid OTLP/JSON" in reply.json()["message"]


def test_deeply_nested_json_is_400_and_service_keeps_serving(service: Service) -> None:
    deep = b'{"resourceSpans":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = httpx.post(_url(service), content=deep, headers={"Content-Type": "application/json", **_auth()})
    assert reply.status_code in (400, 413)
    ok = httpx.post(_url(service), content=sdk_request(1).SerializeToString(), headers={**PROTO, **_auth()})
    assert ok.status_code == 200


def test_empty_request_is_200(service: Service) -> None:
    reply = httpx.post(_url(service), content=b"", headers={**PROTO, **_auth()})
    assert reply.status_code == 200
    json_reply = httpx.post(_url(service), content=b"{}", headers={"Content-Type": "application/json", **_auth()})
    assert json_reply.status_code == 200


def test_json_with_hex_ids_is_stored_with_those_ids(service: Service, ch: Client) -> None:
    document = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "eee19b7ec3c1b173", "name": "chat gpt", "kind": 3,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
            "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
            "status": {"code": 2, "message": "boom"}, "someFutureField": {"x": 1},
        }]}],
    }]}
    reply = httpx.post(_url(service), content=json.dumps(document), headers={"Content-Type": "application/json", **_auth()})
    assert reply.status_code == 200, reply.text
    row = ch.query("SELECT TraceId, SpanId, ParentSpanId, SpanKind, StatusCode, Duration, InputTokens FROM otel_traces").result_rows
    assert row == [("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173",
                    "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", 500_000_000, 12)]


def test_invalid_spans_are_partial_success_with_exact_count(service: Service, ch: Client) -> None:
    request = sdk_request(10)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = bytes(16)
    spans[1].span_id = b"\x01\x02"
    spans[2].trace_id = b"short"
    reply = httpx.post(_url(service), content=request.SerializeToString(), headers={**PROTO, **_auth()})
    assert reply.status_code == 200
    partial = ExportTraceServiceResponse.FromString(reply.content).partial_success
    assert partial.rejected_spans == 3
    assert "trace_id" in partial.error_message and "span_id" in partial.error_message
    assert _count(ch) == 7


def _body_of_size(size: int) -> bytes:
    """A valid request whose serialized size is exactly ``size`` bytes (padding attribute)."""
    request = sdk_request(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    pad = span.attributes.add()
    pad.key = "pad"
    pad.value.string_value = ""
    missing = size - request.ByteSize()
    # Growing the string can grow its length prefix too; converge on the exact size.
    while request.ByteSize() != size:
        pad.value.string_value = "x" * (len(pad.value.string_value) + missing)
        missing = size - request.ByteSize()
    return request.SerializeToString()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_body_limit_at_plus_minus_one_byte(service: Service, ch: Client, encoding: str) -> None:
    for size, expected in ((LIMIT - 1, 200), (LIMIT, 200), (LIMIT + 1, 413)):
        body = _body_of_size(size)
        headers = {**PROTO, **_auth()}
        if encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        assert httpx.post(_url(service), content=body, headers=headers).status_code == expected, size
    assert _count(ch) == 2


def test_gzip_bomb_is_413_without_inflating(service: Service) -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # ~200 KiB on the wire
    headers = {**PROTO, **_auth(), "Content-Encoding": "gzip"}
    # The wire size exceeds the limit too here; a bomb under the wire limit is tested below.
    assert httpx.post(_url(service), content=bomb, headers=headers).status_code == 413


def test_small_gzip_bomb_under_wire_limit_is_413(service: Service) -> None:
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < LIMIT
    headers = {**PROTO, **_auth(), "Content-Encoding": "gzip"}
    reply = httpx.post(_url(service), content=bomb, headers=headers)
    assert reply.status_code == 413
    assert "decompressed" in Status.FromString(reply.content).message


def test_corrupt_gzip_is_400(service: Service) -> None:
    headers = {**PROTO, **_auth(), "Content-Encoding": "gzip"}
    assert httpx.post(_url(service), content=b"\x1f\x8bnot gzip at all", headers=headers).status_code == 400


def test_unknown_content_encoding_is_415(service: Service) -> None:
    headers = {**PROTO, **_auth(), "Content-Encoding": "br"}
    assert httpx.post(_url(service), content=b"xx", headers=headers).status_code == 415


def test_saturated_pipeline_answers_503_with_retry_after(service: Service, ch: Client) -> None:
    assert service.ingestor is not None
    limiter = service.ingestor.limiter
    body = sdk_request(3).SerializeToString()
    with limiter.hold(service.settings.max_inflight_bytes):  # the pipeline is full
        reply = httpx.post(_url(service), content=body, headers={**PROTO, **_auth()})
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == str(service.settings.retry_after_seconds)
    assert _count(ch) == 0
    assert limiter.used == 0
    assert httpx.post(_url(service), content=body, headers={**PROTO, **_auth()}).status_code == 200
    assert _count(ch) == 3


def test_decoded_request_is_not_a_string(service: Service) -> None:
    # Sanity: what the SDK encodes decodes to the same message type the receiver uses.
    assert isinstance(ExportTraceServiceRequest.FromString(sdk_request(1).SerializeToString()), ExportTraceServiceRequest)


def test_request_clickhouse_cannot_parse_is_400_and_spares_its_batch(service: Service, ch: Client) -> None:
    # Both requests land in one insert batch; only the malformed one may fail.
    good = sdk_request(4, service="batch-mate").SerializeToString()

    async def send_both() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers={**PROTO, **_auth()}) as client:
            return list(await asyncio.gather(client.post(_url(service), content=wire_type_mismatch_request()),
                                             client.post(_url(service), content=good)))

    bad_reply, good_reply = asyncio.run(send_both())
    assert bad_reply.status_code == 400
    assert "schema" in Status.FromString(bad_reply.content).message
    assert good_reply.status_code == 200
    assert _count(ch) == 4
    reply = httpx.post(_url(service), content=sdk_request(2).SerializeToString(), headers={**PROTO, **_auth()})
    assert reply.status_code == 200 and _count(ch) == 6
