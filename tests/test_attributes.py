"""Attribute values become the Collector's string forms; the fast paths agree with the general one."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.attributes import attributes_to_map, value_text


def _strings(items: list[str]) -> AnyValue:
    value = AnyValue()
    value.array_value.SetInParent()  # an empty array is still an array
    for item in items:
        value.array_value.values.add().string_value = item
    return value


@given(st.lists(st.text()))
def test_string_arrays_match_compact_json(items: list[str]) -> None:
    text = value_text(_strings(items))
    assert json.loads(text) == items
    assert text == json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def test_scalars_mixed_arrays_and_maps() -> None:
    mixed = AnyValue()
    mixed.array_value.values.add().int_value = 3
    mixed.array_value.values.add().string_value = "x"
    kv = AnyValue()
    entry = kv.kvlist_value.values.add()
    entry.key, entry.value.bool_value = "ok", True
    attributes = [
        KeyValue(key="s", value=AnyValue(string_value="plain")),
        KeyValue(key="i", value=AnyValue(int_value=-42)),
        KeyValue(key="b", value=AnyValue(bool_value=False)),
        KeyValue(key="d", value=AnyValue(double_value=0.25)),
        KeyValue(key="raw", value=AnyValue(bytes_value=b"\x01\xff")),
        KeyValue(key="none", value=AnyValue()),
        KeyValue(key="mixed", value=mixed),
        KeyValue(key="map", value=kv),
    ]
    assert attributes_to_map(attributes) == {
        "s": "plain", "i": "-42", "b": "false", "d": "0.25", "raw": "01ff", "none": "",
        "mixed": '[3,"x"]', "map": '{"ok":true}',
    }
