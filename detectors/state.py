"""Engine state persisted in ClickHouse: cursors and learned baselines.

Reads take the highest Version per key (ReplacingMergeTree merges lazily, so never rely on it
having merged). Writes are buffered and flushed after the tick's alerts are written: a crash in
between re-evaluates the same windows, and the incident tracker makes that idempotent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from clickhouse_connect.driver.client import Client

CURSOR_COLUMNS = ("Scope", "TenantId", "Detector", "Position", "Version")
BASELINE_COLUMNS = ("TenantId", "Detector", "Key", "Payload", "Version")

CursorKey = tuple[str, str, str]  # scope, tenant, detector


def _version() -> int:
    return time.time_ns()


class CursorStore:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._positions: dict[CursorKey, int] = {}
        self._dirty: set[CursorKey] = set()

    def load(self) -> None:
        rows = self._client.query(
            "SELECT Scope, TenantId, Detector, argMax(Position, Version) FROM detector_cursors "
            "GROUP BY Scope, TenantId, Detector"
        ).result_rows
        self._positions = {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def get(self, scope: str, tenant: str = "", detector: str = "") -> int | None:
        return self._positions.get((scope, tenant, detector))

    def put(self, position: int, scope: str, tenant: str = "", detector: str = "") -> None:
        key = (scope, tenant, detector)
        if self._positions.get(key) != position:
            self._positions[key] = position
            self._dirty.add(key)

    def tenants(self, scope: str) -> set[str]:
        return {key[1] for key in self._positions if key[0] == scope}

    def flush(self) -> None:
        if not self._dirty:
            return
        version = _version()
        rows = [[*key, self._positions[key], version] for key in sorted(self._dirty)]
        self._client.insert("detector_cursors", rows, column_names=list(CURSOR_COLUMNS))
        self._dirty.clear()


class BaselineStore:
    """JSON documents per (tenant, detector, key), loaded lazily per tenant and detector."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._docs: dict[tuple[str, str], dict[str, Any]] = {}
        self._dirty: set[tuple[str, str, str]] = set()

    def view(self, tenant: str, detector: str, client: Client | None = None) -> dict[str, Any]:
        """The mutable documents of one detector for one tenant; call ``touch`` after changes.
        ``client`` loads them when the caller's thread has its own (the sweep thread)."""
        scope = (tenant, detector)
        if scope not in self._docs:
            rows = (client or self._client).query(
                "SELECT Key, argMax(Payload, Version) FROM detector_baselines "
                "WHERE TenantId = {t:String} AND Detector = {d:String} GROUP BY Key",
                parameters={"t": tenant, "d": detector},
            ).result_rows
            self._docs[scope] = {row[0]: json.loads(row[1]) for row in rows}
        return self._docs[scope]

    def touch(self, tenant: str, detector: str, key: str) -> None:
        self._dirty.add((tenant, detector, key))

    def flush(self) -> None:
        if not self._dirty:
            return
        version = _version()
        rows = []
        for tenant, detector, key in sorted(self._dirty):
            payload = json.dumps(self._docs[(tenant, detector)].get(key), separators=(",", ":"))
            rows.append([tenant, detector, key, payload, version])
        self._client.insert("detector_baselines", rows, column_names=list(BASELINE_COLUMNS))
        self._dirty.clear()
