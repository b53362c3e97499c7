"""What a detector sees during one evaluation: its window, queries bound to it, the fleet
directory, the policy and its persisted baseline documents.

A live evaluation (detectors/early.py) also restricts the window to the traces that just
changed (``traces``) or to a few agents (``agents``), may start reading later than the window
starts (``read_from_ns``: no span of those traces is older), works on a scratch copy of the
baseline (only full windows may teach it), and reads the fleet directory the engine keeps per
tenant. Query results are shared through ``cache``
between the detectors evaluated on the same window in one tick. The shared frames come from the
engine's span tail (``tail``, detectors/tail.py) when it holds the part of the window asked for;
otherwise from ClickHouse, where a full window on the sweep reads row-level queries and the
directory in time slices (``slicing``, detectors/slices.py), so a live query waits behind one
slice at most.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.fleet import DIRECTORY_SQL, FleetDirectory, build_directory
from detectors.model import Window
from detectors.policy import Policy
from detectors.slices import Slicing, read_sliced, rows_sliced, sliceable
from detectors.state import BaselineStore
from detectors.tail import SpanTail

# Every detector query filters with this: the spans table's sort key starts with
# (TenantId, toStartOfMinute(Timestamp)), so this reads only the window's granules.
WINDOW_FILTER = (
    "TenantId = {tenant:String}"
    " AND Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})"
    " AND Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})"
)
TRACE_FILTER = " AND TraceId IN {fresh_traces:Array(String)}"
# AgentId follows toStartOfMinute(Timestamp) in the sort key: a few agents read a few granules
# per minute of the window, not the whole window.
AGENT_FILTER = " AND AgentId IN {live_agents:Array(String)}"
# Ends every query that reads keys of an attribute map (``SpanAttributes['key']``). Since
# ClickHouse 26.3 each key read that way becomes a subcolumn of its own: the map column is read
# and decompressed once per key, and each key is planned again for every part (ClickHouse issue
# 107912; the PREWHERE fix of 26.7 leaves the select list as it was). Off, the map is read once
# and every key is taken from it: the span tail's update went from 74 to 21 ms with 45 parts and
# nothing new, and a 30-second window of a shared frame read in half the time (docs/benchmarks.md,
# session 14). Only the rewrite of functions into subcolumns is turned off, for these queries.
WHOLE_MAPS = "SETTINGS optimize_functions_to_subcolumns = 0"
QueryCache = dict[tuple[str, ...], Any]
MAX_CACHED = 32  # results kept per tick; beyond, start over (catch-up spans many windows)


class Baseline:
    """One detector's persisted documents for one tenant (JSON-serialisable values)."""

    def __init__(self, store: BaselineStore, tenant: str, detector: str) -> None:
        self._store, self._tenant, self._detector = store, tenant, detector

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.view(self._tenant, self._detector).get(key, default)

    def put(self, key: str, value: Any) -> None:
        self._store.view(self._tenant, self._detector)[key] = value
        self._store.touch(self._tenant, self._detector, key)


class ScratchBaseline(Baseline):
    """Reads the persisted documents, keeps changes to itself: an early evaluation sees only
    part of a window, and a baseline learned from parts would drift.

    ``lock`` guards the store when another thread may use it meanwhile; ``client`` (the calling
    thread's own) loads documents not loaded yet."""

    def __init__(self, store: BaselineStore, tenant: str, detector: str,
                 lock: threading.RLock | None = None, client: Client | None = None) -> None:
        super().__init__(store, tenant, detector)
        self._changes: dict[str, Any] = {}
        self._lock, self._client = lock, client

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._changes:
            return self._changes[key]
        with self._lock if self._lock is not None else nullcontext():
            value = self._store.view(self._tenant, self._detector, self._client).get(key, default)
            # Detectors may mutate what they read; hand out a copy (documents are JSON).
            return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value

    def put(self, key: str, value: Any) -> None:
        self._changes[key] = value


class EvalContext:
    def __init__(
        self, client: Client, window: Window, policy: Policy, baseline: Baseline,
        directory_cache: dict[tuple[str, int, int], FleetDirectory] | None = None, *,
        traces: list[str] | None = None, cache: QueryCache | None = None,
        directory: FleetDirectory | None = None, agents: list[str] | None = None,
        read_from_ns: int | None = None, slicing: Slicing | None = None,
        tail: SpanTail | None = None, give_way: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.window = window
        self.policy = policy
        self.baseline = baseline
        self.traces = traces
        self.agents = agents
        self._read_from = read_from_ns
        self._directories = directory_cache if directory_cache is not None else {}
        self._cache: QueryCache = cache if cache is not None else {}
        self._directory = directory
        self._slicing = slicing
        self._tail = tail
        self._give_way = give_way

    def checkpoint(self) -> None:
        """On the sweep thread, wait here while the engine's tick runs (detectors/live_first.py).
        Detectors call it between units of Python work that can take long (one agent of
        thousands); queries call it before they start. Elsewhere a no-op."""
        if self._give_way is not None:
            self._give_way()

    @property
    def live(self) -> bool:
        """True when this evaluation sees part of the window (a live one): detectors whose
        signals need the whole window (learned habits, absences) hold those back."""
        return self.traces is not None or self.agents is not None

    @property
    def bounds(self) -> dict[str, Any]:
        w = self.window
        start = w.start_ns if self._read_from is None else max(w.start_ns, self._read_from)
        found: dict[str, Any] = {"tenant": w.tenant, "start_ns": start, "end_ns": w.end_ns}
        if self.traces is not None:
            found["fresh_traces"] = self.traces
        if self.agents is not None:
            found["live_agents"] = self.agents
        return found

    def _bind(self, sql: str, parameters: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[str, str]]:
        window = (WINDOW_FILTER + (TRACE_FILTER if self.traces is not None else "")
                  + (AGENT_FILTER if self.agents is not None else ""))
        text = sql.replace("{window}", window)
        bound = {**self.bounds, **parameters}
        # The trace list is the same object for every detector of a tick: its id stands for it.
        key_params = {k: (id(v) if k == "fresh_traces" else v) for k, v in bound.items()}
        return text, bound, (text, repr(sorted(key_params.items())))

    def frame(self, sql: str, **parameters: Any) -> pl.DataFrame:
        """Run ``sql`` (with ``{window}`` standing for the window filter) into a polars frame."""
        held = self.held(sql) if not parameters else None
        if held is not None:
            return held
        text, bound, key = self._bind(sql, parameters)
        if ("frame",) + key not in self._cache:
            slicing = self._slices() if sliceable(sql) else None
            self.checkpoint()
            if slicing is not None:
                frame = read_sliced(self.client, text, bound, slicing)
            else:
                whole = pl.from_arrow(self.client.query_arrow(text, parameters=bound))
                assert isinstance(whole, pl.DataFrame)
                frame = whole
            self._remember(("frame",) + key, frame)
        cached: pl.DataFrame = self._cache[("frame",) + key]
        return cached

    def held(self, sql: str) -> pl.DataFrame | None:
        """``frame(sql)`` if the engine's span tail holds it (a shared frame, this part of the
        window), else None: a detector that needs only some of a shared frame's rows reads them
        from the tail this way and runs its own narrower query otherwise."""
        text, _, key = self._bind(sql, {})
        if ("frame",) + key not in self._cache:
            held = self._from_tail(sql)
            if held is None:
                return None
            self._remember(("frame",) + key, held)
        cached: pl.DataFrame = self._cache[("frame",) + key]
        return cached

    def _from_tail(self, sql: str) -> pl.DataFrame | None:
        """The frame from the engine's span tail, if it keeps ``sql``'s frame and holds all of
        this evaluation's part of the window."""
        if self._tail is None:
            return None
        bounds = self.bounds
        return self._tail.read(sql, self.window.tenant, bounds["start_ns"], bounds["end_ns"],
                               self.traces, self.agents)

    def rows(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        text, bound, key = self._bind(sql, parameters)
        if ("rows",) + key not in self._cache:
            self.checkpoint()
            result = self.client.query(text, parameters=bound)
            self._remember(("rows",) + key, [tuple(row) for row in result.result_rows])
        return list(self._cache[("rows",) + key])

    def _slices(self) -> Slicing | None:
        """The sweep's slicing, for windows big enough to need it (``Slicing.above_spans``)."""
        if self._slicing is None:
            return None
        key = ("spans", self.window.tenant, str(self.bounds["start_ns"]), str(self.window.end_ns))
        if key not in self._cache:
            text = f"SELECT count() FROM otel_traces WHERE {WINDOW_FILTER}"
            self.checkpoint()
            self._remember(key, int(self.client.query(text, parameters=self.bounds).result_rows[0][0]))
        return self._slicing if self._cache[key] > self._slicing.above_spans else None

    def _remember(self, key: tuple[str, ...], value: Any) -> None:
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = value

    def directory(self) -> FleetDirectory:
        if self._directory is not None:
            return self._directory
        key = (self.window.tenant, self.window.start_ns, self.window.end_ns)
        if key not in self._directories:
            slicing = self._slices()
            if slicing is None:
                rows = [(str(a), str(n), str(o), str(p)) for a, n, o, p in self.rows(DIRECTORY_SQL)]
            else:
                text, bound, _ = self._bind(DIRECTORY_SQL, {})
                rows = merged_directory_rows(rows_sliced(self.client, text, bound, slicing))
            self._directories[key] = build_directory(rows, self.policy)
        return self._directories[key]


def merged_directory_rows(rows: list[tuple[Any, ...]]) -> list[tuple[str, str, str, str]]:
    """Per agent, the first non-empty name, owners and principal over the slices' rows (each
    slice picked any non-empty value, as the whole window's query does)."""
    merged: dict[str, list[str]] = {}
    for agent, *fields in rows:
        known = merged.setdefault(str(agent), ["", "", ""])
        for i, value in enumerate(fields):
            known[i] = known[i] or str(value)
    return [(agent, name, owners, principal) for agent, (name, owners, principal) in merged.items()]
