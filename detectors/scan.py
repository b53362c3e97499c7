"""What arrived since the ingest cursor: per tenant, the event-time range of the new spans and the
traces they belong to.

Inserts that run concurrently can commit out of IngestedAt order, so a scan that only looked past
the newest IngestedAt seen could step over a row committed late with an older stamp. The scan
therefore re-reads an overlap before the cursor and remembers, per trace, how many spans it had
already seen there: a trace counts as new only when it gained spans. When nothing is new this is
one query over the overlap's granules (the IngestedAt minmax index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

_SCAN_SQL = """
SELECT TenantId, TraceId, count(),
       min(toUnixTimestamp64Nano(Timestamp)),
       maxIf(toUnixTimestamp64Nano(Timestamp),
             Timestamp <= IngestedAt + toIntervalMillisecond({skew_ms:Int64})),
       toUnixTimestamp64Nano(max(IngestedAt))
FROM otel_traces
WHERE IngestedAt > fromUnixTimestamp64Nano({since:Int64})
GROUP BY TenantId, TraceId
"""

TraceKey = tuple[str, str]  # tenant, trace id


@dataclass
class NewData:
    tenant: str
    min_ns: int
    max_ns: int
    traces: list[str] = field(default_factory=list)


class IngestScanner:
    """Scans past ``cursor - overlap``; reports each trace again only when it gained spans."""

    def __init__(self, client: Client, overlap_ns: int, skew_ms: int) -> None:
        self._client, self._overlap, self._skew_ms = client, overlap_ns, skew_ms
        self._seen: dict[TraceKey, tuple[int, int]] = {}  # spans seen, newest IngestedAt

    def scan(self, cursor_ns: int) -> tuple[list[NewData], int | None]:
        """New spans per tenant, and the newest IngestedAt seen (the next cursor)."""
        since = max(0, cursor_ns - self._overlap) if cursor_ns else 0
        rows = self._client.query(
            _SCAN_SQL, parameters={"since": since, "skew_ms": self._skew_ms}
        ).result_rows
        news: dict[str, NewData] = {}
        seen: dict[TraceKey, tuple[int, int]] = {}
        for tenant, trace, count, low, high, ingested in rows:
            key = (str(tenant), str(trace))
            seen[key] = (int(count), int(ingested))
            if self._seen.get(key, (0, 0))[0] >= int(count):
                continue
            item = news.get(key[0])
            high = max(int(low), int(high))
            if item is None:
                news[key[0]] = NewData(key[0], int(low), high, [key[1]])
            else:
                item.min_ns, item.max_ns = min(item.min_ns, int(low)), max(item.max_ns, high)
                item.traces.append(key[1])
        self._seen = seen  # only the overlap's traces: anything older is never re-read
        newest = max((ingested for _, ingested in seen.values()), default=None)
        return list(news.values()), newest if newest is None else max(newest, cursor_ns)
