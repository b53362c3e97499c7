"""What arrived since the ingest cursor: per tenant, the event-time range of the new spans.

This is the only query the engine runs when nothing is new; the IngestedAt minmax index keeps
it to an index scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

_SCAN_SQL = """
SELECT TenantId,
       min(toUnixTimestamp64Nano(Timestamp)),
       maxIf(toUnixTimestamp64Nano(Timestamp),
             Timestamp <= IngestedAt + toIntervalMillisecond({skew_ms:Int64})),
       toUnixTimestamp64Nano(max(IngestedAt))
FROM otel_traces
WHERE IngestedAt > fromUnixTimestamp64Nano({cursor:Int64})
GROUP BY TenantId
"""


@dataclass(frozen=True)
class NewData:
    tenant: str
    min_ns: int
    max_ns: int


def scan_new_data(client: Client, cursor_ns: int, skew_ms: int) -> tuple[list[NewData], int | None]:
    """New spans per tenant, and the newest IngestedAt seen (the next cursor)."""
    rows = client.query(_SCAN_SQL, parameters={"cursor": cursor_ns, "skew_ms": skew_ms}).result_rows
    news = [NewData(str(r[0]), int(r[1]), max(int(r[1]), int(r[2]))) for r in rows]
    newest = max((int(r[3]) for r in rows), default=None)
    return news, newest
