"""OTLP AnyValue -> the Collector's string form (maps of strings in ClickHouse)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# The C implementation of JSON string quoting (non-ASCII kept, as ensure_ascii=False does).
_quote = json.encoder.encode_basestring


def attributes_to_map(attributes: Iterable[KeyValue]) -> dict[str, str]:
    out = {}
    for kv in attributes:
        value = kv.value
        # Most attribute values are strings: skip the general dispatch for them.
        out[kv.key] = value.string_value if value.WhichOneof("value") == "string_value" else value_text(value)
    return out


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
    items = value.array_value.values
    if kind == "array_value" and all(v.WhichOneof("value") == "string_value" for v in items):
        # The common case (recipient lists, owners): compact JSON without the general encoder.
        return "[" + ",".join(_quote(v.string_value) for v in items) + "]"
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
