"""One alert per incident: findings become new alerts, updates (new Version) or resolutions.

The open incidents are read back from the ``alerts`` table at start-up, so a restarted engine
that re-evaluates a window it already judged recognises the incident and writes nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.alerts import FIRING, RESOLVED, AlertRow
from detectors.model import Evidence, Finding, Severity

MAX_EVIDENCE = 64
IncidentKey = tuple[str, str, str]  # tenant, detector, key

_LOAD_SQL = """
SELECT AlertId, Version, Detector, Severity, TenantId, Agents, Principals,
       toUnixTimestamp64Nano(WindowStart), toUnixTimestamp64Nano(FirstSeen), Score, Title,
       Explanation, EvidenceTraceIds, EvidenceSpanIds, Labels
FROM (SELECT * FROM alerts ORDER BY AlertId, Version DESC LIMIT 1 BY AlertId)
WHERE Status = 'firing' AND Labels['incident_key'] != ''
"""


@dataclass
class Incident:
    alert_id: str
    tenant: str
    detector: str
    key: str
    severity: Severity
    score: float
    title: str
    explanation: str
    window_start_ns: int
    last_seen_ns: int
    first_event_ns: int
    detected_ns: int
    version: int = 0
    last_written_ns: int = 0
    agents: set[str] = field(default_factory=set)
    principals: set[str] = field(default_factory=set)
    evidence: list[Evidence] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    dirty: bool = True

    def merge(self, finding: Finding) -> bool:
        """Fold a new finding in; True when something an operator must hear about changed."""
        c = finding.candidate
        urgent = not set(c.agents) <= self.agents or not set(c.principals) <= self.principals
        urgent = urgent or finding.severity.rank > self.severity.rank
        known = set(self.evidence)
        fresh = [item for item in c.evidence if item not in known]
        if fresh or c.score > self.score * 1.1:
            self.dirty = True
        self.agents |= set(c.agents)
        self.principals |= set(c.principals)
        self.evidence = (self.evidence + fresh)[:MAX_EVIDENCE]
        if finding.severity.rank > self.severity.rank:
            self.severity = finding.severity
        self.score = max(self.score, c.score)
        self.title, self.explanation = c.title, c.explanation
        self.labels.update(c.labels)
        self.last_seen_ns = max(self.last_seen_ns, finding.window.end_ns)
        if c.first_event_ns is not None:
            self.first_event_ns = min(self.first_event_ns, c.first_event_ns)
        self.dirty = self.dirty or urgent
        return urgent

    def row(self, status: str) -> AlertRow:
        self.version += 1
        self.last_written_ns = self.last_seen_ns
        self.dirty = False
        labels = {
            **self.labels,
            "incident_key": self.key,
            "last_seen_ns": str(self.last_seen_ns),
            "detected_ns": str(self.detected_ns),
            "first_event_ns": str(self.first_event_ns),
        }
        return AlertRow(
            self.alert_id, self.version, self.detector, self.severity.value, status, self.tenant,
            tuple(sorted(self.agents)), tuple(sorted(self.principals)), self.window_start_ns,
            self.last_seen_ns, self.first_event_ns, self.score, self.title, self.explanation,
            tuple(e.trace_id for e in self.evidence), tuple(e.span_id for e in self.evidence),
            labels,
        )


def alert_id(tenant: str, detector: str, key: str, detected_ns: int) -> str:
    digest = hashlib.sha256(f"{tenant}\x1f{detector}\x1f{key}\x1f{detected_ns}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class _Resolved:
    """What a resolved incident covered: a finding inside it is the same incident seen again."""

    last_seen_ns: int
    evidence: frozenset[Evidence]


# Resolved incidents remembered (oldest forgotten first); in memory only, so after a restart a
# late re-evaluation of an incident resolved before it can alert again.
MAX_RESOLVED = 10_000


class IncidentTracker:
    def __init__(self, update_interval_ns: int) -> None:
        self.update_interval_ns = update_interval_ns
        self.open: dict[IncidentKey, Incident] = {}
        self.resolved: dict[IncidentKey, _Resolved] = {}

    def load(self, client: Client) -> None:
        self.open = {}
        for row in client.query(_LOAD_SQL).result_rows:
            incident = _incident_from_row(row)
            self.open[(incident.tenant, incident.detector, incident.key)] = incident

    def apply(self, finding: Finding) -> AlertRow | None:
        c, w = finding.candidate, finding.window
        key = (w.tenant, finding.detector, c.key)
        incident = self.open.get(key)
        if incident is None:
            if self._seen_before(key, finding):
                return None
            incident = _new_incident(finding)
            self.open[key] = incident
            return incident.row(FIRING)
        urgent = incident.merge(finding)
        due = incident.last_seen_ns - incident.last_written_ns >= self.update_interval_ns
        if incident.dirty and (urgent or due):
            return incident.row(FIRING)
        return None

    def resolve_stale(self, tenant: str, detector: str, now_ns: int, quiet_ns: int) -> list[AlertRow]:
        """Resolve this detector's incidents not seen for ``quiet_ns`` of event time."""
        rows = []
        for key, incident in list(self.open.items()):
            if key[0] == tenant and key[1] == detector and now_ns - incident.last_seen_ns >= quiet_ns:
                rows.append(incident.row(RESOLVED))
                del self.open[key]
                self._remember_resolved(key, incident)
        return rows

    def _seen_before(self, key: IncidentKey, finding: Finding) -> bool:
        """A window re-evaluated after the incident resolved (late spans nearby), or a live
        evaluation that brings none of its own evidence, finds the resolved incident again:
        only a finding past it, with evidence of its own, is a new incident."""
        resolved = self.resolved.get(key)
        if resolved is None:
            return False
        evidence = set(finding.candidate.evidence)
        within = finding.window.end_ns <= resolved.last_seen_ns
        return within or (bool(evidence) and evidence <= resolved.evidence)

    def _remember_resolved(self, key: IncidentKey, incident: Incident) -> None:
        self.resolved.pop(key, None)
        if len(self.resolved) >= MAX_RESOLVED:
            del self.resolved[next(iter(self.resolved))]
        self.resolved[key] = _Resolved(incident.last_seen_ns, frozenset(incident.evidence))


def _new_incident(finding: Finding) -> Incident:
    c, w = finding.candidate, finding.window
    first_event = c.first_event_ns if c.first_event_ns is not None else w.start_ns
    return Incident(
        alert_id(w.tenant, finding.detector, c.key, w.end_ns), w.tenant, finding.detector, c.key,
        finding.severity, c.score, c.title, c.explanation, w.start_ns, w.end_ns, first_event,
        w.end_ns, agents=set(c.agents), principals=set(c.principals),
        evidence=list(dict.fromkeys(c.evidence))[:MAX_EVIDENCE], labels=dict(c.labels),
    )


def _incident_from_row(row: Sequence[Any]) -> Incident:
    (aid, version, detector, severity, tenant, agents, principals, window_start, first_seen,
     score, title, explanation, trace_ids, span_ids, labels) = row
    last_seen = int(labels.get("last_seen_ns", "0"))
    return Incident(
        str(aid), str(tenant), str(detector), labels["incident_key"], Severity(severity),
        float(score), str(title), str(explanation), int(window_start), last_seen,
        int(labels.get("first_event_ns", first_seen)), int(labels.get("detected_ns", last_seen)),
        version=int(version), last_written_ns=last_seen, agents=set(agents),
        principals=set(principals),
        evidence=[Evidence(t, s) for t, s in zip(trace_ids, span_ids, strict=False)],
        labels={k: v for k, v in labels.items() if not k.endswith("_ns") and k != "incident_key"},
        dirty=False,
    )
