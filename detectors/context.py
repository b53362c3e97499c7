"""What a detector sees during one evaluation: its window, queries bound to it, the fleet
directory, the policy and its persisted baseline documents."""

from __future__ import annotations

from typing import Any

import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.fleet import DIRECTORY_SQL, FleetDirectory, build_directory
from detectors.model import Window
from detectors.policy import Policy
from detectors.state import BaselineStore

# Every detector query filters with this: the spans table's sort key starts with
# (TenantId, toStartOfMinute(Timestamp)), so this reads only the window's granules.
WINDOW_FILTER = (
    "TenantId = {tenant:String}"
    " AND Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})"
    " AND Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})"
)


class Baseline:
    """One detector's persisted documents for one tenant (JSON-serialisable values)."""

    def __init__(self, store: BaselineStore, tenant: str, detector: str) -> None:
        self._store, self._tenant, self._detector = store, tenant, detector

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.view(self._tenant, self._detector).get(key, default)

    def put(self, key: str, value: Any) -> None:
        self._store.view(self._tenant, self._detector)[key] = value
        self._store.touch(self._tenant, self._detector, key)


class EvalContext:
    def __init__(
        self, client: Client, window: Window, policy: Policy, baseline: Baseline,
        directory_cache: dict[tuple[str, int, int], FleetDirectory] | None = None,
    ) -> None:
        self.client = client
        self.window = window
        self.policy = policy
        self.baseline = baseline
        self._directories = directory_cache if directory_cache is not None else {}

    @property
    def bounds(self) -> dict[str, Any]:
        w = self.window
        return {"tenant": w.tenant, "start_ns": w.start_ns, "end_ns": w.end_ns}

    def frame(self, sql: str, **parameters: Any) -> pl.DataFrame:
        """Run ``sql`` (with ``{window}`` standing for the window filter) into a polars frame."""
        text = sql.replace("{window}", WINDOW_FILTER)
        table = self.client.query_arrow(text, parameters={**self.bounds, **parameters})
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def rows(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        text = sql.replace("{window}", WINDOW_FILTER)
        result = self.client.query(text, parameters={**self.bounds, **parameters})
        return [tuple(row) for row in result.result_rows]

    def directory(self) -> FleetDirectory:
        key = (self.window.tenant, self.window.start_ns, self.window.end_ns)
        if key not in self._directories:
            rows = [(str(a), str(n), str(o), str(p)) for a, n, o, p in self.rows(DIRECTORY_SQL)]
            self._directories[key] = build_directory(rows, self.policy)
        return self._directories[key]
