"""Reading alert versions from the ``alerts`` table, page by page, oldest change first.

Every change to an incident is a new row with a higher Version, so "what is new" is every row
whose UpdatedAt is at or past a cursor. Rows can be written a little late (a detector's window
closes after the fact), so the dispatcher re-reads an overlap behind its cursor and skips what
it has already handled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

# The SELECT list, defined once; times come back as epoch milliseconds so no time zone guessing.
_ALERT_SELECT = """
    AlertId, Version, Detector, Severity, Status, TenantId, Agents, Principals,
    toUnixTimestamp64Milli(WindowStart), toUnixTimestamp64Milli(WindowEnd),
    toUnixTimestamp64Milli(FirstSeen), toUnixTimestamp64Milli(UpdatedAt),
    Score, Title, Explanation, EvidenceTraceIds, EvidenceSpanIds, Labels
"""
_PAGE_QUERY = f"""
SELECT {_ALERT_SELECT}
FROM alerts
WHERE UpdatedAt >= fromUnixTimestamp64Milli({{since_ms:Int64}})
  AND (UpdatedAt, AlertId, Version) > (fromUnixTimestamp64Milli({{after_ms:Int64}}),
                                       {{after_id:String}}, {{after_version:UInt32}})
ORDER BY UpdatedAt, AlertId, Version
LIMIT {{limit:UInt32}}
"""


@dataclass(frozen=True)
class AlertVersion:
    alert_id: str
    version: int
    detector: str
    severity: str
    status: str
    tenant_id: str
    agents: tuple[str, ...]
    principals: tuple[str, ...]
    window_start: datetime
    window_end: datetime
    first_seen: datetime
    updated_at: datetime
    score: float
    title: str
    explanation: str
    evidence_trace_ids: tuple[str, ...]
    evidence_span_ids: tuple[str, ...]
    labels: dict[str, str]

    @property
    def key(self) -> tuple[str, int]:
        return self.alert_id, self.version


def _from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000.0, tz=UTC)


def _to_millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _row_to_alert(row: Sequence[Any]) -> AlertVersion:
    (alert_id, version, detector, severity, status, tenant, agents, principals, w_start, w_end,
     first_seen, updated_at, score, title, explanation, traces, spans, labels) = row
    return AlertVersion(
        alert_id=str(alert_id),
        version=int(version),
        detector=str(detector),
        severity=str(severity),
        status=str(status),
        tenant_id=str(tenant),
        agents=tuple(agents),
        principals=tuple(principals),
        window_start=_from_millis(w_start),
        window_end=_from_millis(w_end),
        first_seen=_from_millis(first_seen),
        updated_at=_from_millis(updated_at),
        score=float(score),
        title=str(title),
        explanation=str(explanation),
        evidence_trace_ids=tuple(traces),
        evidence_span_ids=tuple(spans),
        labels=dict(labels),
    )


def alert_pages(client: Client, since: datetime, page_size: int) -> Iterator[list[AlertVersion]]:
    """Alert rows updated at or after ``since``, in pages of at most ``page_size``."""
    since_ms = _to_millis(since)
    after: tuple[int, str, int] = (since_ms, "", 0)
    while True:
        result = client.query(
            _PAGE_QUERY,
            parameters={
                "since_ms": since_ms,
                "after_ms": after[0],
                "after_id": after[1],
                "after_version": after[2],
                "limit": page_size,
            },
        )
        page = [_row_to_alert(row) for row in result.result_rows]
        if page:
            yield page
        if len(page) < page_size:
            return
        last = page[-1]
        after = (_to_millis(last.updated_at), last.alert_id, last.version)
