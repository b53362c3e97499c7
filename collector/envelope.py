"""The rows of the ingest table: an OTLP request's bytes plus fleetwatch's envelope fields.

See collector/schema/otlp_ingest.proto. Protobuf messages concatenate, so an envelope is the
tenant and Kafka provenance (fields 100-104) followed by the request exactly as it arrived;
ClickHouse then parses and flattens the spans (migration 0005). A block of envelopes is written
in ClickHouse's ``Protobuf`` format: each message preceded by its length as a varint.

A request must not carry fields 100-104 of its own: ClickHouse's parser does not reliably keep
either occurrence of a repeated field, so the receivers and the loader drop unknown top-level
fields first (``collector.decode.drop_unknown_fields``; tests/test_ingest_table.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

from clickhouse_connect.driver.client import Client

INGEST_TABLE: Final = "otlp_ingest"
_MESSAGE: Final = "Envelope"
_LENGTH_DELIMITED, _VARINT = 2, 0


@dataclass(frozen=True)
class Provenance:
    """Where a request came from in Kafka (kept on every row, as Snuba does)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1
    topic_id: str = ""  # the topic's incarnation (Kafka topic id), when the broker reports it


NO_PROVENANCE: Final = Provenance()


def envelope(request: bytes, tenant: str = "", provenance: Provenance = NO_PROVENANCE) -> bytes:
    """``request`` (ExportTraceServiceRequest bytes) behind the envelope fields.

    An empty ``tenant`` keeps the resource's own ``fleet.tenant.id`` (a loader's case: the
    receiver stamped it before producing); a non-empty one overrides it.
    """
    return b"".join((
        _text(100, tenant),
        _text(101, provenance.topic),
        _text(102, provenance.topic_id),
        _integer(103, provenance.partition),
        _integer(104, provenance.offset),
        request,
    ))


def block(envelopes: Iterable[bytes]) -> bytes:
    """Envelopes as one insert body in ClickHouse's length-delimited ``Protobuf`` format."""
    return b"".join(_varint(len(item)) + item for item in envelopes)


def format_settings(client: Client) -> dict[str, object]:
    """Insert settings that make ClickHouse read ``block`` output against our schema.

    A ClickHouse server gets the schema as a setting (``format_schema_source = 'string'``), so
    it needs no file in its format_schema_path. chDB reads the packaged file instead: given a
    string it caches it under ``./__cache__`` in the process's working directory.
    """
    schema: dict[str, object] = (
        {"format_schema_source": "file", "format_schema": str(_schema_file())} if _in_process(client)
        else {"format_schema_source": "string", "format_schema": _schema_text()})
    return {
        **schema,
        "format_schema_message_name": _MESSAGE,
        "input_format_protobuf_oneof_presence": 1,
        # Array and key-value attributes are stored as compact JSON; '/' needs no escape there.
        "output_format_json_escape_forward_slashes": 0,
    }


@cache
def _schema_file() -> Path:
    return Path(str(resources.files("collector") / "schema" / "otlp_ingest.proto"))


@cache
def _schema_text() -> str:
    return _schema_file().read_text(encoding="utf-8")


def _in_process(client: Client) -> bool:
    try:
        from clickhouse_connect.driver._chdbclient import ChdbClient
    except ImportError:  # chdb not installed: every client talks to a server
        return False
    return isinstance(client, ChdbClient)


def _text(field: int, value: str) -> bytes:
    # Written even when empty, so that an empty tenant is still ours and not a smuggled one.
    data = value.encode()
    return _varint(field << 3 | _LENGTH_DELIMITED) + _varint(len(data)) + data


def _integer(field: int, value: int) -> bytes:
    # proto3 int32/int64 encode negatives as 64-bit two's complement varints.
    return _varint(field << 3 | _VARINT) + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
