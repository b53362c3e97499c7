"""Early (live) evaluation: each tick, the detectors that allow it see just the traces that
changed, over their whole window ending at the newest span, so an incident is alerted on seconds
after its spans arrive instead of after its window closes.

A detector allows it by setting ``early_by_trace = True``: each of its candidates' score depends
only on the spans of the traces the candidate involves (plus its baseline and the policy), so
evaluating it on a subset of traces finds the same candidates for those traces. The full-window
evaluation (the sweep) still runs for every detector and stays the completeness guarantee; early
findings go through the same incident tracker, so the two never alert twice for one incident.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.base import Detector
from detectors.context import TRACE_FILTER, WINDOW_FILTER, QueryCache
from detectors.fleet import DIRECTORY_SQL, FleetDirectory, build_directory
from detectors.policy import Policy
from detectors.registry import DetectorRegistry

DirectoryRow = tuple[str, str, str, str]  # agent, name, owners, principal


def allows_early(detector: Detector[Any]) -> bool:
    return detector.early_by_trace


def early_detectors(registry: DetectorRegistry) -> list[Detector[Any]]:
    return [d for d in registry if allows_early(d)]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class TenantDirectories:
    """Per tenant, who the agents are, learned from every span the early lane reads.

    An early evaluation sees a few traces, but deciding whether a principal may instruct an agent
    needs the agents seen across the whole window; so the directory is seeded once from a full
    window and then merged with what each tick's traces say (the newest non-empty value wins).
    """

    def __init__(self, client: Client, policy: Policy, seed_ns: int) -> None:
        self._client, self._policy, self._seed_ns = client, policy, seed_ns
        self._rows: dict[str, dict[str, DirectoryRow]] = {}
        self._built: dict[str, FleetDirectory] = {}

    def update(self, tenant: str, end_ns: int, traces: list[str], cache: QueryCache) -> FleetDirectory:
        known = self._rows.get(tenant)
        if known is None:
            known = self._rows[tenant] = {}
            self._merge(known, self._query(tenant, end_ns - self._seed_ns, end_ns, None))
        self._merge(known, self._query(tenant, end_ns - self._seed_ns, end_ns, traces))
        self._built[tenant] = build_directory(list(known.values()), self._policy)
        return self._built[tenant]

    def _query(self, tenant: str, start: int, end: int, traces: list[str] | None) -> list[DirectoryRow]:
        window = WINDOW_FILTER + (TRACE_FILTER if traces is not None else "")
        params: dict[str, Any] = {"tenant": tenant, "start_ns": start, "end_ns": end}
        if traces is not None:
            params["fresh_traces"] = traces
        result = self._client.query(DIRECTORY_SQL.replace("{window}", window), parameters=params)
        return [(str(a), str(n), str(o), str(p)) for a, n, o, p in result.result_rows]

    @staticmethod
    def _merge(known: dict[str, DirectoryRow], rows: list[DirectoryRow]) -> None:
        for agent, name, owners, principal in rows:
            old = known.get(agent, (agent, "", "", ""))
            known[agent] = (agent, name or old[1], owners or old[2], principal or old[3])
