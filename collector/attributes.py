"""OTLP AnyValue -> the Collector's string form (maps of strings in ClickHouse)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def attributes_to_map(attributes: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: value_text(kv.value) for kv in attributes}


def value_text(value: AnyValue) -> str:
    """Scalars as plain text; arrays and key-value lists as compact JSON; bytes as hex."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return ""
    return json.dumps(_native(value), separators=(",", ":"), ensure_ascii=False)


def _native(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_native(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _native(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return None
    return getattr(value, kind)
