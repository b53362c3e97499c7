"""ClickHouse's side of ingest: OTLP envelopes parsed by the Protobuf format and exploded into
otel_traces by the materialized view (migration 0005), checked value by value in the real engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.decode import decode_protobuf, drop_unknown_fields
from collector.envelope import Provenance, envelope
from collector.writer import insert_envelopes, insert_requests
from tests.support.otel import sdk_request

TRACE, SPAN = bytes(range(1, 17)), bytes(range(1, 9))


def _request(span: Span | None = None, resource: dict[str, str] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (resource or {"service.name": "svc"}).items():
        resource_spans.resource.attributes.add(key=key).value.string_value = value
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = "scope", "1.2"
    scope_spans.spans.append(span or Span(trace_id=TRACE, span_id=SPAN, name="s"))
    return request


def _one(ch: Client, columns: str) -> tuple[Any, ...]:
    rows = ch.query(f"SELECT {columns} FROM otel_traces").result_rows
    assert len(rows) == 1
    return tuple(rows[0])


def _attributes(ch: Client, values: dict[str, AnyValue]) -> dict[str, str]:
    span = Span(trace_id=TRACE, span_id=SPAN, name="s")
    for key, value in values.items():
        span.attributes.add(key=key).value.CopyFrom(value)
    insert_requests(ch, [_request(span)], "t")
    return dict(_one(ch, "SpanAttributes")[0])


def _array(*items: AnyValue) -> AnyValue:
    value = AnyValue()
    value.array_value.SetInParent()  # an empty array is still an array
    value.array_value.values.extend(items)
    return value


def test_scalar_values_keep_their_kind(ch: Client) -> None:
    stored = _attributes(ch, {
        "s": AnyValue(string_value="plain"), "empty": AnyValue(string_value=""),
        "zero": AnyValue(int_value=0), "neg": AnyValue(int_value=-42),
        "no": AnyValue(bool_value=False), "yes": AnyValue(bool_value=True),
        "quarter": AnyValue(double_value=0.25), "whole": AnyValue(double_value=3.0),
        "raw": AnyValue(bytes_value=b"\x00\xff"), "unset": AnyValue(),
    })
    assert stored == {"s": "plain", "empty": "", "zero": "0", "neg": "-42", "no": "false", "yes": "true",
                      "quarter": "0.25", "whole": "3", "raw": "00ff", "unset": ""}


def test_arrays_and_key_value_lists_become_compact_json(ch: Client) -> None:
    kvlist = AnyValue()
    entry = kvlist.kvlist_value.values.add()
    entry.key, entry.value.bool_value = "ok", True
    nested = _array(_array(AnyValue(int_value=1)), AnyValue(string_value="x"))
    stored = _attributes(ch, {
        "mixed": _array(AnyValue(int_value=3), AnyValue(string_value="x"), AnyValue(bool_value=False),
                        AnyValue(double_value=1.5), AnyValue(bytes_value=b"\x01")),
        "none": _array(), "map": kvlist, "nested": nested,
    })
    assert stored["mixed"] == '[3,"x",false,1.5,"01"]'
    assert stored["none"] == "[]"
    assert stored["map"] == '{"ok":true}'
    # Deeper than one level is not kept (documented in docs/conventions.md).
    assert stored["nested"] == '[null,"x"]'


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(), max_size=4))
def test_string_arrays_round_trip_through_json(ch: Client, items: list[str]) -> None:
    ch.command("TRUNCATE TABLE otel_traces")
    text = _attributes(ch, {"list": _array(*(AnyValue(string_value=item) for item in items))})["list"]
    # Escapes may differ from Python's json (\u000B, an escaped U+2028); the JSON means the same.
    assert json.loads(text) == items


def test_span_fields_events_and_links(ch: Client) -> None:
    span = Span(trace_id=TRACE, span_id=SPAN, parent_span_id=SPAN[::-1], name="chat", kind=Span.SPAN_KIND_CLIENT,
                trace_state="k=v", start_time_unix_nano=1_700_000_000_000_000_001,
                end_time_unix_nano=1_700_000_000_000_000_501)
    span.status.code, span.status.message = Status.STATUS_CODE_ERROR, "boom"
    event = span.events.add(time_unix_nano=1_700_000_000_000_000_100, name="exception")
    event.attributes.add(key="exception.type").value.string_value = "ValueError"
    link = span.links.add(trace_id=TRACE[::-1], span_id=SPAN, trace_state="a=b")
    link.attributes.add(key="n").value.int_value = 7
    insert_requests(ch, [_request(span)], "t")
    row = _one(ch, "toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, TraceState, SpanName, "
                   "SpanKind, ServiceName, ScopeName, ScopeVersion, Duration, StatusCode, StatusMessage, "
                   "arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp), Events.Name, Events.Attributes, "
                   "Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes, KafkaPartition, KafkaOffset")
    assert row == (
        1_700_000_000_000_000_001, TRACE.hex(), SPAN.hex(), SPAN[::-1].hex(), "k=v", "chat",
        "SPAN_KIND_CLIENT", "svc", "scope", "1.2", 500, "STATUS_CODE_ERROR", "boom",
        [1_700_000_000_000_000_100], ["exception"], [{"exception.type": "ValueError"}],
        [TRACE[::-1].hex()], [SPAN.hex()], ["a=b"], [{"n": "7"}], -1, -1,
    )


def test_out_of_range_enums_and_negative_durations_are_tamed(ch: Client) -> None:
    span = Span(trace_id=TRACE, span_id=SPAN, name="s", kind=cast(Any, 9), start_time_unix_nano=10,
                end_time_unix_nano=5)
    span.status.code = cast(Any, 7)
    insert_requests(ch, [_request(span)], "t")
    assert _one(ch, "SpanKind, StatusCode, Duration") == ("SPAN_KIND_UNSPECIFIED", "STATUS_CODE_UNSET", 0)


def test_tenant_overrides_the_resource_and_cannot_be_smuggled(ch: Client) -> None:
    claimed = _request(resource={"service.name": "svc", "fleet.tenant.id": "victim"})
    # A client appends our envelope's fields (tenant = 100) to its own request bytes; decoding
    # drops them (ClickHouse's parser would not reliably keep ours).
    smuggled = decode_protobuf(claimed.SerializeToString() + envelope(b"", "victim"))
    assert drop_unknown_fields(smuggled)
    assert not drop_unknown_fields(smuggled)
    insert_envelopes(ch, [envelope(smuggled.SerializeToString(), "acme")], 1)
    insert_requests(ch, [_request(resource={"service.name": "svc2", "fleet.tenant.id": "kept"})], "")
    rows = ch.query("SELECT ServiceName, TenantId, ResourceAttributes['fleet.tenant.id'] FROM otel_traces "
                    "ORDER BY ServiceName").result_rows
    assert rows == [("svc", "acme", "acme"), ("svc2", "kept", "kept")]


def test_provenance_and_materialized_columns(ch: Client) -> None:
    request = sdk_request(25, service="svc-x",
                          attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "shell",
                                      "fleet.message.recipients": ("u1", "u2"),
                                      "gen_ai.usage.input_tokens": 42},
                          resource_attributes={"gen_ai.agent.id": "agent-7"})
    origin = Provenance("otlp_spans", 3, 99, "topic-id-1")
    assert insert_envelopes(ch, [envelope(request.SerializeToString(), "acme", origin)], 25) == 25
    row = _one(ch, "count(), any(TenantId), any(AgentId), any(Operation), any(ToolName), any(InputTokens), "
                   "any(SpanAttributes['fleet.message.recipients']), any(KafkaTopic), any(KafkaTopicId), "
                   "any(KafkaPartition), any(KafkaOffset), uniqExact(SpanAttributes['test.seq'])")
    assert row[:6] == (25, "acme", "agent-7", "execute_tool", "shell", 42)
    assert json.loads(row[6]) == ["u1", "u2"]
    assert row[7:] == ("otlp_spans", "topic-id-1", 3, 99, 25)


def test_same_dedup_token_inserts_once_through_the_view(ch: Client) -> None:
    first, second = sdk_request(10).SerializeToString(), sdk_request(10).SerializeToString()
    insert_envelopes(ch, [envelope(first, "t")], 10, dedup_token="tok-1")
    insert_envelopes(ch, [envelope(first, "t")], 10, dedup_token="tok-1")
    insert_envelopes(ch, [envelope(second, "t")], 10, dedup_token="tok-2")
    assert ch.query("SELECT count(), uniqExact(SpanId) FROM otel_traces").result_rows[0] == (20, 20)


def test_embedded_inserts_leave_the_working_directory_alone(
    ch: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # chDB caches a schema given as a string under ./__cache__; the embedded path gives it a file.
    monkeypatch.chdir(tmp_path)
    insert_requests(ch, [_request()], "t")
    assert list(tmp_path.iterdir()) == []
