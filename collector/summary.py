"""What is stored, for `fleetwatch status` and for tests: counts, duplicates, per tenant."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from collector.spans_table import SPANS_TABLE

_TOTALS = f"""
SELECT count(), uniqExact(TraceId, SpanId), max(IngestedAt)
FROM {SPANS_TABLE}
"""
_BY_TENANT = f"SELECT TenantId, count() FROM {SPANS_TABLE} GROUP BY TenantId ORDER BY TenantId"


def storage_summary(client: Client) -> dict[str, object]:
    """Counts over the whole table: for operators and tests, not for hot paths."""
    spans, distinct, last = client.query(_TOTALS).result_rows[0]
    tenants = {tenant: count for tenant, count in client.query(_BY_TENANT).result_rows}
    return {
        "spans": int(spans),
        "distinct_spans": int(distinct),
        "duplicate_spans": int(spans) - int(distinct),
        "last_ingested": None if int(spans) == 0 else str(last),
        "spans_by_tenant": tenants,
    }
