"""Which alert versions still need pushing to a Grafana, and recording what was pushed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

LEDGER = "grafana_annotations"
LEDGER_COLUMNS = ("Target", "AlertId", "Version", "AnnotationId")
# Alerts not updated for this long are not (re)considered: bounds each run's scan.
LOOKBACK_DAYS = 7

_PENDING = f"""
SELECT latest.AlertId AS alert_id, latest.Version AS version, latest.Detector AS detector,
       latest.Severity AS severity, latest.Status AS status, latest.TenantId AS tenant,
       latest.Agents AS agents, toUnixTimestamp64Milli(latest.FirstSeen) AS first_seen_ms,
       toUnixTimestamp64Milli(latest.WindowEnd) AS window_end_ms,
       latest.Score AS score, latest.Title AS title, latest.Explanation AS explanation,
       latest.EvidenceTraceIds AS trace_ids, pushed.annotation_id AS annotation_id
FROM (
    SELECT *
    FROM alerts
    WHERE UpdatedAt >= now64(3) - INTERVAL {LOOKBACK_DAYS} DAY
    ORDER BY AlertId, Version DESC
    LIMIT 1 BY AlertId
) AS latest
LEFT JOIN (
    SELECT AlertId, max(Version) AS version, argMax(AnnotationId, Version) AS annotation_id,
           1 AS known
    FROM {LEDGER}
    WHERE Target = {{target:String}}
    GROUP BY AlertId
) AS pushed ON pushed.AlertId = latest.AlertId
WHERE pushed.known = 0 OR latest.Version > pushed.version
ORDER BY latest.UpdatedAt, latest.AlertId
LIMIT {{limit:UInt32}}
"""


@dataclass(frozen=True)
class AlertVersion:
    """The parts of an alert's latest version an annotation shows."""

    alert_id: str
    version: int
    detector: str
    severity: str
    status: str
    tenant: str
    agents: tuple[str, ...]
    first_seen_ms: int
    window_end_ms: int
    score: float
    title: str
    explanation: str
    trace_ids: tuple[str, ...]
    annotation_id: int  # the annotation an earlier version created; 0 = none known


def pending(client: Client, target: str, limit: int) -> list[AlertVersion]:
    """Latest versions not yet pushed to ``target``, oldest update first."""
    result = client.query(_PENDING, parameters={"target": target, "limit": limit})
    return [_alert_version(row) for row in result.named_results()]


def record(client: Client, target: str, alert: AlertVersion, annotation_id: int) -> None:
    client.insert(
        LEDGER,
        [[target, alert.alert_id, alert.version, annotation_id]],
        column_names=list(LEDGER_COLUMNS),
    )


def _alert_version(row: dict[str, Any]) -> AlertVersion:
    return AlertVersion(
        alert_id=row["alert_id"],
        version=int(row["version"]),
        detector=row["detector"],
        severity=row["severity"],
        status=row["status"],
        tenant=row["tenant"],
        agents=tuple(row["agents"]),
        first_seen_ms=int(row["first_seen_ms"]),
        window_end_ms=int(row["window_end_ms"]),
        score=float(row["score"]),
        title=row["title"],
        explanation=row["explanation"],
        trace_ids=tuple(row["trace_ids"]),
        annotation_id=int(row["annotation_id"]),
    )
