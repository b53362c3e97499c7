"""Fuzz the OTLP decoders: arbitrary bytes and arbitrary JSON never raise anything but MalformedRequest.

A longer run: HYPOTHESIS_PROFILE=fuzz (see below) for minutes instead of seconds.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.decode import decode_json, decode_protobuf
from collector.errors import MalformedRequest
from collector.load_batch import decode_message
from tests.support.otel import sdk_request

settings.register_profile("fuzz", max_examples=200_000, deadline=None)
settings.register_profile("ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

VALID = sdk_request(3).SerializeToString()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "attributes",
                         "key", "value", "stringValue", "intValue", "links", "resource", "name"]),
        children, max_size=4),
    max_leaves=30,
)


def _bounded(call: object, data: bytes) -> None:
    started = time.monotonic()
    with suppress(MalformedRequest):
        call(data)  # type: ignore[operator]
    assert time.monotonic() - started < 1.0


@given(st.binary(max_size=4096))
def test_random_bytes_as_protobuf(data: bytes) -> None:
    _bounded(decode_protobuf, data)
    _bounded(decode_message, data)


@given(st.binary(max_size=len(VALID)), st.integers(0, len(VALID)))
def test_mutated_valid_protobuf(noise: bytes, cut: int) -> None:
    _bounded(decode_protobuf, VALID[:cut] + noise + VALID[cut + len(noise):])


@given(json_values)
def test_structured_json(document: object) -> None:
    _bounded(decode_json, json.dumps(document).encode())


@given(st.binary(max_size=2048))
def test_random_bytes_as_json(data: bytes) -> None:
    _bounded(decode_json, data)
