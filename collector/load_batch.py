"""One poll's worth of Kafka records, validated and wrapped for insert, with its offset ranges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from kafka.structs import TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import decode_json, decode_protobuf, drop_unknown_fields, span_count
from collector.dlq import PoisonMessage
from collector.envelope import Provenance, envelope
from collector.errors import MalformedRequest


@dataclass(frozen=True)
class _Loaded:
    """A decoded message: its envelope, where it came from, and how many spans it holds."""

    envelope: bytes
    source: PoisonMessage  # error still empty: what it becomes if ClickHouse refuses it
    spans: int


@dataclass
class LoadBatch:
    loaded: list[_Loaded] = field(default_factory=list)
    # partition -> (first offset, last offset) seen in this batch, bad messages included
    ranges: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)
    poison: list[PoisonMessage] = field(default_factory=list)

    @property
    def envelopes(self) -> list[bytes]:
        return [item.envelope for item in self.loaded]

    @property
    def rows(self) -> int:
        return sum(item.spans for item in self.loaded)

    @property
    def good(self) -> int:
        return len(self.loaded)

    def extend(self, later: LoadBatch) -> None:
        """Append a later poll's batch (its offsets follow this one's on every partition)."""
        self.loaded += later.loaded
        self.poison += later.poison
        for tp, (lo, hi) in later.ranges.items():
            first, _ = self.ranges.get(tp, (lo, hi))
            self.ranges[tp] = (min(first, lo), hi)

    def set_apart(self, indexes: set[int], reason: str) -> list[PoisonMessage]:
        """Remove these envelopes (ClickHouse cannot parse them) and return them as poison.

        The offset ranges, and so the dedup token, stay: a retry after a crash rebuilds the
        same batch and sets the same messages apart.
        """
        poison = [replace(self.loaded[i].source, error=reason) for i in sorted(indexes)]
        self.loaded = [item for i, item in enumerate(self.loaded) if i not in indexes]
        self.poison += poison
        return poison

    def dedup_token(self) -> str:
        """Rebuilt identically when the same offsets are retried, as ClickHouse requires."""
        parts = sorted(f"{tp.topic}:{tp.partition}:{lo}-{hi}" for tp, (lo, hi) in self.ranges.items())
        return ",".join(parts)


def build_batch(records: Mapping[TopicPartition, Iterable[object]],
                topic_ids: Mapping[str, str]) -> LoadBatch:
    batch = LoadBatch()
    for tp, messages in records.items():
        for message in messages:
            _add(batch, tp, message, topic_ids.get(tp.topic, ""))
    return batch


def decode_message(value: bytes | None) -> ExportTraceServiceRequest:
    """otlp_proto (fleetwatch's and the Collector's default) or otlp_json."""
    if not value:
        raise MalformedRequest("empty message value")
    request = decode_json(value) if value[:1] == b"{" else decode_protobuf(value)
    # Protobuf parsing is lenient: arbitrary bytes can parse as unknown fields. A message that
    # carries bytes but no spans is not something any OTLP producer sends.
    if not any(ss.spans for rs in request.resource_spans for ss in rs.scope_spans):
        raise MalformedRequest("message holds no spans")
    return request


def _add(batch: LoadBatch, tp: TopicPartition, message: object, topic_id: str) -> None:
    offset: int = message.offset  # type: ignore[attr-defined]
    value: bytes | None = message.value  # type: ignore[attr-defined]
    lo, _ = batch.ranges.get(tp, (offset, offset))
    batch.ranges[tp] = (min(lo, offset), offset)
    try:
        request = decode_message(value)
    except MalformedRequest as error:
        batch.poison.append(PoisonMessage(tp.topic, tp.partition, offset, value or b"", str(error)))
        return
    assert value is not None  # decode_message refuses an empty value
    # otlp_proto is stored as it came unless it brought fields of its own; otlp_json is re-encoded.
    changed = drop_unknown_fields(request) or value[:1] == b"{"
    encoded = request.SerializeToString() if changed else value
    batch.loaded.append(_Loaded(
        envelope(encoded, provenance=Provenance(tp.topic, tp.partition, offset, topic_id)),
        PoisonMessage(tp.topic, tp.partition, offset, value, ""),
        span_count(request),
    ))
