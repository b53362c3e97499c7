"""Splitting requests into Kafka-sized messages keeps every span exactly once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.split import split_request
from collector.validate import drop_invalid_spans
from tests.support.otel import sdk_request


def _span_ids(request: ExportTraceServiceRequest) -> list[bytes]:
    return [s.span_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 300), blob=st.integers(0, 3000), limit_kib=st.integers(64, 256))
def test_chunks_fit_and_preserve_spans(count: int, blob: int, limit_kib: int) -> None:
    request = sdk_request(count, attributes={"blob": "z" * blob})
    limit = limit_kib * 1024
    chunks = [ExportTraceServiceRequest.FromString(data) for data in split_request(request, limit)]
    assert all(chunk.ByteSize() <= limit for chunk in chunks)
    assert sorted(sid for chunk in chunks for sid in _span_ids(chunk)) == sorted(_span_ids(request))
    service = {kv.key: kv.value.string_value for kv in chunks[-1].resource_spans[0].resource.attributes}
    assert service["service.name"] == "agent-a"


def test_span_larger_than_a_message_is_rejected_not_split() -> None:
    request = sdk_request(3, attributes={"blob": "q" * 10})
    huge = request.resource_spans[0].scope_spans[0].spans[1]
    pad = huge.attributes.add()
    pad.key = "huge"
    pad.value.string_value = "h" * 200_000
    validation = drop_invalid_spans(request, max_message_bytes=128 * 1024)
    assert (validation.accepted, validation.rejected) == (2, 1)
    assert "larger than" in validation.message
