"""Pre-encoded OTLP request files, for load tests that must not pay the SDK's cost.

File layout: the 8-byte magic ``FWOTLP1\\n``, then records. Each record is a 16-byte big-endian
header - send offset in nanoseconds since the start of the run (uint64), number of spans
(uint32), payload length (uint32) - followed by the payload: one serialized
``ExportTraceServiceRequest`` exactly as an OTLP/HTTP client would POST it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

MAGIC = b"FWOTLP1\n"
HEADER = struct.Struct(">QII")
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a corrupt length must not make the reader allocate GBs


@dataclass(frozen=True)
class Record:
    offset_ns: int
    span_count: int
    payload: bytes


def encode_batch(spans: Sequence[ReadableSpan]) -> bytes:
    """ReadableSpans -> the protobuf body of one OTLP/HTTP export request."""
    payload: bytes = encode_spans(spans).SerializeToString()
    return payload


class RecordWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._file.write(MAGIC)
        self.records = 0
        self.spans = 0

    def write(self, offset_ns: int, span_count: int, payload: bytes) -> None:
        self._file.write(HEADER.pack(max(0, offset_ns), span_count, len(payload)))
        self._file.write(payload)
        self.records += 1
        self.spans += span_count

    def close(self) -> None:
        self._file.close()


def read_records(path: Path) -> Iterator[Record]:
    """Records in file order; raises ValueError on a file that is not ours or is truncated."""
    with path.open("rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path}: not a fleetwatch OTLP record file")
        while header := handle.read(HEADER.size):
            if len(header) < HEADER.size:
                raise ValueError(f"{path}: truncated record header")
            offset_ns, span_count, length = HEADER.unpack(header)
            if length > MAX_RECORD_BYTES:
                raise ValueError(f"{path}: record of {length} bytes exceeds the limit")
            payload = handle.read(length)
            if len(payload) < length:
                raise ValueError(f"{path}: truncated record payload")
            yield Record(offset_ns, span_count, payload)
