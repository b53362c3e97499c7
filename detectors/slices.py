"""Full-window reads in time slices, so each of the sweep's reads is short and it pauses between them.

A full-window read of 15 minutes at 10,000 spans/s takes 10-40 s; with the chDB of sessions 3-4
(one query at a time per process) every live tick's query waited behind it, and the result of
one read is held in memory at once. A row-level query (one row per
span, the window filter once, no aggregation) over ``[start, end)`` returns exactly the rows of
its queries over consecutive sub-ranges, so the sweep reads it slice by slice (each a minute or
less of event time) and pauses in between: a live query then waits at most one slice. Slice
edges are multiples of the slice length, so with a minute-aligned slice every query reads whole
minutes of the spans table's sort key ``(TenantId, toStartOfMinute(Timestamp), ...)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from clickhouse_connect.driver.client import Client

# Between two slices the sweep yields at least this long, so a live query blocked on the engine
# takes it before the sweep's next slice does (chDB does not promise a fair hand-over).
MIN_PAUSE_S = 0.002


@dataclass(frozen=True)
class Slicing:
    """``slice_ns`` of event time per query; ``pause(worked_s)`` runs between slices (the
    sweep's duty cycle: rest in proportion to the work just done); only for windows holding
    more than ``above_spans`` spans."""

    slice_ns: int
    pause: Callable[[float], None]
    # Windows with at most this many spans are read whole: each slice costs a query's fixed
    # overhead (in 30 s slices, catching up on the demo's six agents took five times as long).
    above_spans: int = 200_000


def slice_bounds(start_ns: int, end_ns: int, slice_ns: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at multiples of ``slice_ns``; consecutive, covering, non-empty."""
    bounds: list[tuple[int, int]] = []
    low = start_ns
    while low < end_ns:
        high = min(end_ns, (low // slice_ns + 1) * slice_ns)
        bounds.append((low, high))
        low = high
    return bounds


def sliceable(sql: str) -> bool:
    """Row-level with one window filter: slices concatenate to the whole. A query with the
    window in a sub-query too, or with aggregation, must be read whole."""
    upper = sql.upper()
    return sql.count("{window}") == 1 and "GROUP BY" not in upper and "LIMIT" not in upper


def read_sliced(client: Client, text: str, bound: dict[str, Any], slicing: Slicing) -> pl.DataFrame:
    """``text`` (bound to ``start_ns``/``end_ns``) read slice by slice, concatenated in order."""
    parts = [_frame(client.query_arrow(text, parameters=part)) for part in each_slice(bound, slicing)]
    return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]


def rows_sliced(client: Client, text: str, bound: dict[str, Any], slicing: Slicing) -> list[tuple[Any, ...]]:
    """As ``read_sliced`` for plain rows (the caller merges any per-slice aggregates)."""
    return [tuple(row) for part in each_slice(bound, slicing)
            for row in client.query(text, parameters=part).result_rows]


def each_slice(bound: dict[str, Any], slicing: Slicing) -> Iterator[dict[str, Any]]:
    """``bound`` narrowed to each slice in turn; between slices, ``slicing.pause`` gets the time
    the caller worked on the slice just handed out."""
    bounds = slice_bounds(bound["start_ns"], bound["end_ns"], slicing.slice_ns)
    for index, (low, high) in enumerate(bounds):
        began = time.perf_counter()
        yield {**bound, "start_ns": low, "end_ns": high}
        if index + 1 < len(bounds):
            slicing.pause(time.perf_counter() - began)


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
