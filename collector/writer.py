"""Insert flattened spans into ClickHouse, one atomic block per call."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from collector.flatten import row_count
from collector.spans_table import SPAN_COLUMNS, SPANS_TABLE, SpanColumns


def insert_spans(client: Client, columns: SpanColumns, dedup_token: str | None = None) -> int:
    """Insert the batch; with a token, a retry of the same batch is dropped by ClickHouse.

    clickhouse-connect may retry an insert on its own, so loaders always pass a token built from
    where the batch came from (topic, partitions, offset ranges).
    """
    rows = row_count(columns)
    if rows == 0:
        return 0
    settings: dict[str, object] = {}
    if dedup_token is not None:
        settings["insert_deduplication_token"] = dedup_token
    client.insert(
        SPANS_TABLE,
        [columns[name] for name in SPAN_COLUMNS],
        column_names=list(SPAN_COLUMNS),
        column_oriented=True,
        settings=settings,
    )
    return rows
