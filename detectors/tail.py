"""The span tail: the shared frames (turns, tool calls, sends, model calls) of the recent past,
kept in memory and topped up with what each tick ingested, so windows are read without
querying ClickHouse.

Why: re-reading a 15-30 minute window every slide held ClickHouse for 30-70 s at 10,000 spans/s,
and with the chDB of the time (one query at a time per process) every live query waited behind
it. Windows slide, so nearly all of a window was read before. The tail reads only the rows
ingested since the last tick (``update``, by IngestedAt) and, once, in slices on the sweep
thread, what ClickHouse held before the tail started (``seed_step``, newest event time first).

The promise: every span whose Timestamp is at or after ``covered_from`` and that ClickHouse held
at the last update is in the tail, once (a redelivered span is held once). ``read`` answers a
window only when it starts at or after ``covered_from``, with the rows, columns and order the
window query would return; otherwise it returns None and the caller queries ClickHouse. Memory
is bounded: spans older than ``keep_ns`` behind the newest are dropped, and beyond ``max_bytes``
the oldest go first; either only raises ``covered_from``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.tail_chunks import Chunk, Chunks, Merge, select

_FLOOR = "Timestamp >= fromUnixTimestamp64Nano({floor:Int64})"
_UPDATE_ROWS = "IngestedAt > fromUnixTimestamp64Nano({since:Int64}) AND " + _FLOOR
# Past the cursor (the newest IngestedAt the last scan saw), plus the traces the scan found late
# commits of between ``since`` and the cursor: the heavy columns of the overlap are not re-read.
_FRESH_ROWS = ("(IngestedAt > fromUnixTimestamp64Nano({cursor:Int64}) OR (IngestedAt >"
               " fromUnixTimestamp64Nano({since:Int64}) AND TraceId IN {late:Array(String)})) AND "
               + _FLOOR)
_SEED_ROWS = ("IngestedAt <= fromUnixTimestamp64Nano({origin:Int64})"
              " AND Timestamp >= fromUnixTimestamp64Nano({low:Int64})"
              " AND Timestamp < fromUnixTimestamp64Nano({high:Int64})")
_NO_END = 2**62  # the top seed slice is open-ended (spans stamped ahead of the newest)
SEED_FILL = 0.9  # seeding stops at this share of max_bytes, leaving room for what arrives
# More late traces than this in one update are not named in the query (ClickHouse refuses a
# bound array of over 1,000,000 elements, and the query text grows with each): the tail starts
# over from the cursor instead and seeds what lies before it, as after a restart.
MAX_LATE_TRACES = 100_000
log = logging.getLogger(__name__)


class TailedFrame(Protocol):
    """A shared frame the tail keeps: its window query (``{window}`` for the window filter) and
    the names of its columns after ts, trace, span and agent."""

    @property
    def name(self) -> str: ...

    @property
    def window_sql(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


class SpanTail:
    def __init__(self, frames: Sequence[TailedFrame], rows_sql: str, keep_ns: int, max_bytes: int,
                 seed_slice_ns: int, settle_ns: int, max_late_traces: int = MAX_LATE_TRACES) -> None:
        self._frames = {f.window_sql: f for f in frames}
        self._rows_sql = rows_sql  # every frame's columns for ``{rows}``, one query
        self._keep, self._seed_slice, self._settle = keep_ns, seed_slice_ns, settle_ns
        self._max_late = max_late_traces
        self._chunks = Chunks(max_bytes)
        self._lock = threading.Lock()
        self._empty: dict[str, pl.DataFrame] = {}  # frame name -> its schema, no rows
        self._origin: int | None = None  # spans ingested after this come by update, others by seed
        self._seeded_to: int | None = None  # event time seeded down to (None: not begun)
        self._newest = 0  # newest event time seen (the scan's, clock skew excluded)
        self._generation = 0  # bumped by reset: a seed slice read before it is dropped
        self.reads = {"held": 0, "missed": 0}  # window reads answered here, and sent to ClickHouse

    # -- what the engine calls -------------------------------------------------------------

    def update(self, client: Client, since_ns: int, newest_ns: int, cursor_ns: int | None = None,
               late: Sequence[str] = ()) -> None:
        """Add the spans ingested after ``since_ns`` (the ingest scan's lower bound); given the
        scan's ``cursor_ns``, only those after it and, between the two, those of the ``late``
        traces (the scan found commits there it had not seen)."""
        with self._lock:
            self._newest = max(self._newest, newest_ns)
            if cursor_ns is not None and len(late) > self._max_late and self._origin is not None:
                log.warning("span tail: %d traces committed late, more than %d to read apart; "
                            "it starts over from the cursor and seeds again", len(late), self._max_late)
                self._start_over()
            if self._origin is None:
                self._origin = since_ns if cursor_ns is None else cursor_ns
            since = max(since_ns, self._origin)
            floor = max(0, self._newest - self._keep)
        if cursor_ns is None:
            loaded = self._query(client, _UPDATE_ROWS, {"since": since, "floor": floor})
        else:
            # Late commits matter between ``since`` and the cursor only: a tail that starts at
            # the cursor (its first update, after a restart) seeds what lies before it. There
            # the scan, which has seen nothing yet, calls every trace of its overlap late.
            named = list(late) if since < cursor_ns else []
            loaded = self._query(client, _FRESH_ROWS, {"since": since, "floor": floor, "late": named,
                                                        "cursor": max(cursor_ns, since)})
        with self._lock:
            for name, rows in loaded.items():
                self._chunks.add_new(name, rows, since)
            if self._seeded_to is None and since == 0:
                self._seeded_to = floor  # nothing was ingested before: nothing to seed
            self._chunks.evict(max(0, self._newest - self._keep))
            chunks, merges = self._chunks, self._chunks.merges_due()
        self._merge(chunks, merges)

    def seed_step(self, client: Client) -> bool:
        """Load one slice of what was ingested before the first update; False when there is
        nothing (more) to seed now."""
        with self._lock:
            if self._origin is None or time.time_ns() < self._origin + self._settle:
                return False  # inserts stamped before the origin may still be committing
            high = _NO_END if self._seeded_to is None else self._seeded_to
            bottom = max(self._newest - self._keep, self._chunks.evicted_to)
            if high <= bottom or self._chunks.bytes >= SEED_FILL * self._chunks.max_bytes:
                return False
            top = self._seeded_to if self._seeded_to is not None else self._newest + 1
            low = max(bottom, top - self._seed_slice)
            origin, generation = self._origin, self._generation
        loaded = self._query(client, _SEED_ROWS, {"origin": origin, "low": low, "high": high}, by_agent=True)
        with self._lock:
            if generation != self._generation:
                return True  # reset meanwhile: seed afresh
            for name, rows in loaded.items():
                self._chunks.add_old(name, rows)
            self._seeded_to = low
        return True

    def reset(self) -> None:
        """Forget everything (after a failed update: a gap the tail could not see)."""
        with self._lock:
            self._start_over()

    def _start_over(self) -> None:
        self._chunks = Chunks(self._chunks.max_bytes)
        self._origin = self._seeded_to = None
        self._generation += 1

    def read(self, window_sql: str, tenant: str, start_ns: int, end_ns: int,
             traces: list[str] | None = None, agents: list[str] | None = None) -> pl.DataFrame | None:
        """The window query's result for ``[start_ns, end_ns)``, optionally only ``traces`` or
        ``agents``; None when the tail does not hold all of it."""
        frame = self._frames.get(window_sql)
        if frame is None:
            return None
        with self._lock:
            covered = self.covered_from
            empty = self._empty.get(frame.name)
            if covered is None or start_ns < covered or empty is None:
                self.reads["missed"] += 1
                return None
            self.reads["held"] += 1
            chunks = self._chunks.overlapping(frame.name, tenant, start_ns, end_ns)
        found = select(chunks, start_ns, end_ns, traces, agents)
        return empty if found is None else found

    @property
    def covered_from(self) -> int | None:
        """Event time from which the tail holds every span (None: nothing yet)."""
        return None if self._seeded_to is None else max(self._seeded_to, self._chunks.evicted_to)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**self.reads, "rows": self._chunks.rows, "bytes": self._chunks.bytes,
                    "chunks": self._chunks.count,
                    "covered_from_ns": self.covered_from, "newest_ns": self._newest,
                    "seeding": self._seeded_to is None
                    or self._seeded_to > max(self._newest - self._keep, self._chunks.evicted_to)}

    def _merge(self, chunks: Chunks, merges: list[Merge]) -> None:
        """Merge outside the lock (sorting a merge by agent takes tens of milliseconds, and
        readers wait for the lock); a reset meanwhile leaves the merges unused."""
        for merge in merges:
            merged = Chunk.merged(merge.parts)
            with self._lock:
                if self._chunks is chunks:
                    chunks.replace(merge, merged)

    # -- reading ClickHouse ------------------------------------------------------------------

    def _query(self, client: Client, rows: str, parameters: dict[str, Any],
               by_agent: bool = False) -> dict[str, dict[str, Chunk]]:
        """Per frame, the rows matching ``rows``, one chunk per tenant."""
        table = pl.from_arrow(client.query_arrow(self._rows_sql.replace("{rows}", rows),
                                                 parameters=parameters))
        assert isinstance(table, pl.DataFrame)
        return {f.name: self._chunks_of(f, table.filter(pl.col("frame") == f.name), by_agent)
                for f in self._frames.values()}

    def _chunks_of(self, frame: TailedFrame, rows: pl.DataFrame, by_agent: bool) -> dict[str, Chunk]:
        table = rows.select("tenant", "ingested", "ts", "trace", "span", "agent",
                            *(pl.col(f"{frame.name}__{a}").alias(a) for a in frame.aliases))
        with self._lock:
            self._empty.setdefault(frame.name, table.drop("tenant", "ingested").clear())
        return {str(tenant): Chunk.of(part.drop("tenant", "ingested"), int(part["ingested"].max()), by_agent)  # type: ignore[arg-type]
                for (tenant,), part in table.partition_by("tenant", as_dict=True).items()}
