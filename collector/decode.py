"""Decode OTLP trace export bodies (protobuf or OTLP/JSON) into one message type."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format, unknown_fields
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.errors import MalformedRequest, UnsupportedMediaType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# OTLP/JSON writes these ids as hex; protobuf's JSON mapping expects base64 for bytes fields.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def media_type(content_type: str) -> str:
    """The bare media type, or UnsupportedMediaType for anything but OTLP's two."""
    bare = content_type.split(";", 1)[0].strip().lower()
    if bare in (PROTOBUF, JSON):
        return bare
    raise UnsupportedMediaType(
        f"unsupported Content-Type {bare or '(none)'!r}; use {PROTOBUF} or {JSON}"
    )


def decode_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    if kind == PROTOBUF:
        return decode_protobuf(body)
    return decode_json(body)


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
        return request
    except (DecodeError, RecursionError) as error:
        raise MalformedRequest(f"invalid protobuf ExportTraceServiceRequest: {error}") from error


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def drop_unknown_fields(request: ExportTraceServiceRequest) -> bool:
    """Drop fields OTLP does not define; True when the request had any at its top level.

    Stored envelopes put fleetwatch's own fields (tenant, provenance) beside the request's, so a
    request must not bring fields of its own there (collector/envelope.py). Fields unknown deeper
    down are harmless and left to the parser to skip.
    """
    if not len(unknown_fields.UnknownFieldSet(request)):
        return False
    request.DiscardUnknownFields()
    return True


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body) if body.strip() else {}
        if not isinstance(document, dict):
            raise MalformedRequest("OTLP/JSON body must be an object")
        _hex_ids_to_base64(document)
        request = ExportTraceServiceRequest()
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
        return request
    except (ValueError, RecursionError, json_format.ParseError, TypeError) as error:
        raise MalformedRequest(f"invalid OTLP/JSON: {_short(error)}") from error


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _convert_ids(span)
                for link in _items(span, "links"):
                    _convert_ids(link)


def _items(parent: object, *keys: str) -> list[dict[str, Any]]:
    if not isinstance(parent, dict):
        raise MalformedRequest("OTLP/JSON: expected an object")
    for key in keys:
        value = parent.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise MalformedRequest(f"OTLP/JSON: {key} must be an array")
            return value
    return []


def _convert_ids(record: dict[str, Any]) -> None:
    if not isinstance(record, dict):
        raise MalformedRequest("OTLP/JSON: expected an object")
    for key in _ID_FIELDS:
        value = record.get(key)
        if isinstance(value, str) and value:
            try:
                record[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError as error:
                raise MalformedRequest(f"OTLP/JSON: {key} is not hex") from error


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


