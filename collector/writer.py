"""Insert OTLP requests into ClickHouse, one atomic block per call.

ClickHouse parses and flattens the spans itself (collector/envelope.py, migration 0005); the
caller hands over envelopes and the number of spans they hold (counted while validating).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import span_count
from collector.envelope import INGEST_TABLE, block, envelope, format_settings
from collector.flatten import row_count
from collector.spans_table import SPAN_COLUMNS, SPANS_TABLE, SpanColumns


def insert_envelopes(client: Client, envelopes: Sequence[bytes], spans: int,
                     dedup_token: str | None = None) -> int:
    """Insert the batch; with a token, a retry of the same batch is dropped by ClickHouse.

    clickhouse-connect may retry an insert on its own, so loaders always pass a token built from
    where the batch came from (topic, partitions, offset ranges). The token reaches the spans
    table through the materialized view (deduplicate_blocks_in_dependent_materialized_views).
    """
    if not envelopes:
        return 0
    settings = format_settings(client)
    if dedup_token is not None:
        settings["insert_deduplication_token"] = dedup_token
        settings["deduplicate_blocks_in_dependent_materialized_views"] = 1
    client.raw_insert(INGEST_TABLE, None, block(envelopes), settings=settings, fmt="Protobuf")
    return spans


def insert_requests(client: Client, requests: Iterable[ExportTraceServiceRequest | bytes], tenant: str = "",
                    dedup_token: str | None = None) -> int:
    """Insert whole requests (tests, replays, benchmarks): the same path as the receivers'.

    An empty ``tenant`` keeps each resource's own ``fleet.tenant.id``.
    """
    envelopes, spans = [], 0
    for request in requests:
        message = request if isinstance(request, ExportTraceServiceRequest) else (
            ExportTraceServiceRequest.FromString(request))
        spans += span_count(message)
        encoded = request if isinstance(request, bytes) else request.SerializeToString()
        envelopes.append(envelope(encoded, tenant))
    return insert_envelopes(client, envelopes, spans, dedup_token)


def insert_spans(client: Client, columns: SpanColumns, dedup_token: str | None = None) -> int:
    """Insert already flattened spans (collector.flatten) straight into the spans table.

    Kept for callers that build rows in Python; the ingest path uses ``insert_envelopes``.
    """
    rows = row_count(columns)
    if rows == 0:
        return 0
    settings: dict[str, object] = {}
    if dedup_token is not None:
        settings["insert_deduplication_token"] = dedup_token
    client.insert(SPANS_TABLE, [columns[name] for name in SPAN_COLUMNS], column_names=list(SPAN_COLUMNS),
                  column_oriented=True, settings=settings)
    return rows
