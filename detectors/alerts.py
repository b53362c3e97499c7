"""Alert rows: the columns of the ``alerts`` table, defined once, and the writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

ALERT_COLUMNS = (
    "AlertId", "Version", "Detector", "Severity", "Status", "TenantId", "Agents", "Principals",
    "WindowStart", "WindowEnd", "FirstSeen", "UpdatedAt", "Score", "Title", "Explanation",
    "EvidenceTraceIds", "EvidenceSpanIds", "Labels",
)
FIRING = "firing"
RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertRow:
    alert_id: str
    version: int
    detector: str
    severity: str
    status: str
    tenant: str
    agents: tuple[str, ...]
    principals: tuple[str, ...]
    window_start_ns: int
    window_end_ns: int
    first_seen_ns: int
    score: float
    title: str
    explanation: str
    trace_ids: tuple[str, ...]
    span_ids: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)

    def values(self, updated_at: datetime) -> list[object]:
        return [
            self.alert_id, self.version, self.detector, self.severity, self.status, self.tenant,
            list(self.agents), list(self.principals), ns_to_datetime(self.window_start_ns),
            ns_to_datetime(self.window_end_ns), ns_to_datetime(self.first_seen_ns), updated_at,
            self.score, self.title, self.explanation, list(self.trace_ids), list(self.span_ids),
            dict(self.labels),
        ]


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def write_alerts(client: Client, rows: list[AlertRow]) -> int:
    if not rows:
        return 0
    now = datetime.now(tz=UTC)
    client.insert("alerts", [row.values(now) for row in rows], column_names=list(ALERT_COLUMNS))
    return len(rows)
