"""The fleet directory the live lane uses, per tenant, kept up to date from new spans only.

A live evaluation sees a few traces or agents, but deciding whether a principal may instruct an
agent needs the agents seen across the whole window; so the directory is seeded once from a full
window and then merged with what the spans ingested since the last tick say (the newest non-empty
value wins). Reading only the new rows keeps this cheap whatever the window holds.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.context import WINDOW_FILTER
from detectors.fleet import DIRECTORY_SQL, FleetDirectory, build_directory
from detectors.policy import Policy

DirectoryRow = tuple[str, str, str, str]  # agent, name, owners, principal
# IngestedAt has a minmax index: the new rows are a few granules at the end of the table.
NEW_ROWS_FILTER = "TenantId = {tenant:String} AND IngestedAt > fromUnixTimestamp64Nano({since_ns:Int64})"


class TenantDirectories:
    def __init__(self, client: Client, policy: Policy, seed_ns: int) -> None:
        self._client, self._policy, self._seed_ns = client, policy, seed_ns
        self._rows: dict[str, dict[str, DirectoryRow]] = {}
        self._built: dict[str, FleetDirectory] = {}

    def update(self, tenant: str, end_ns: int, since_ns: int) -> FleetDirectory:
        """The tenant's directory, with what arrived after ``since_ns`` (IngestedAt) merged in."""
        known = self._rows.get(tenant)
        if known is None:
            known = self._rows[tenant] = {}
            params = {"tenant": tenant, "start_ns": end_ns - self._seed_ns, "end_ns": end_ns}
            changed = self._merge(known, self._query(WINDOW_FILTER, params))
        else:
            fresh = {"tenant": tenant, "since_ns": since_ns}
            changed = self._merge(known, self._query(NEW_ROWS_FILTER, fresh))
        if changed or tenant not in self._built:
            self._built[tenant] = build_directory(list(known.values()), self._policy)
        return self._built[tenant]

    def _query(self, where: str, params: dict[str, Any]) -> list[DirectoryRow]:
        result = self._client.query(DIRECTORY_SQL.replace("{window}", where), parameters=params)
        return [(str(a), str(n), str(o), str(p)) for a, n, o, p in result.result_rows]

    @staticmethod
    def _merge(known: dict[str, DirectoryRow], rows: list[DirectoryRow]) -> bool:
        changed = False
        for agent, name, owners, principal in rows:
            old = known.get(agent, (agent, "", "", ""))
            new = (agent, name or old[1], owners or old[2], principal or old[3])
            if new != known.get(agent):
                known[agent], changed = new, True
        return changed
