"""What the span tail's reads cost with merged chunks sorted by agent (detectors/tail_chunks.py)
and with merged chunks in arrival order, as before session 15.

    python3 bench/tail_reads.py [--minutes 30] [--rows-per-second 1200] [--agents 2000] [--repeats 15]

Builds one frame's chunk list the way the tail does at the detector bench's rate: a chunk per
0.5 s tick, its rows in the order ClickHouse returns them (the spans table's sort key: agent,
then time), the oldest merged past COMPACT_ABOVE chunks (``Chunks.merges_due``,
``Chunk.merged``). The "before" list holds the same chunks, each merged one with its parts
concatenated in arrival order as the code before session 15 merged them. Then
times ``select`` over the whole list both ways, alternating: the live lane's by-agent reads (a
few agents, the whole window), changed-traces reads (20 traces of the last minute, the same
over the whole window, as for a trace whose start is unknown) and a whole window, each over
the chunks that overlap its range, as the tail picks them. Prints medians as JSON. Session 15 (docs/benchmarks.md) has the figures.

The rows have the turns frame's shape (ts, trace, span, agent and ten columns, one a 200-byte
message text); 1,200 rows a second for one frame gives the 2.2 million rows a 30-minute by-agent
read went over in the detector bench (session 14).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from detectors.base import SECOND_NS
from detectors.tail_chunks import Chunk, Chunks, select

TICK_NS = SECOND_NS // 2


def tick_rows(rng: np.random.Generator, count: int, start_ns: int, agents: int) -> pl.DataFrame:
    ids = pl.Series(rng.integers(0, 2**62, count)).cast(pl.String)
    text = pl.Series(["".join(rng.choice(list("abcdefgh "), 200)) for _ in range(8)])
    rows = pl.DataFrame({
        "ts": np.sort(rng.integers(start_ns, start_ns + TICK_NS, count)),
        "trace": "t" + ids, "span": "s" + ids,
        "agent": "agent-" + pl.Series(rng.integers(0, agents, count)).cast(pl.String),
        "duration": rng.integers(0, 10**9, count), "principal": "p" + pl.Series(rng.integers(0, 500, count)).cast(pl.String),
        "principal_name": pl.Series(["", "Ada", "Bo"]).gather(rng.integers(0, 3, count)),
        "channel": "discord:" + pl.Series(rng.integers(0, 50, count)).cast(pl.String),
        "trigger": pl.Series(["message", "timer"]).gather(rng.integers(0, 2, count)),
        "conversation": "c" + pl.Series(rng.integers(0, 5000, count)).cast(pl.String),
        "urgent": rng.random(count) < 0.01, "claim": pl.Series(["", "done"]).gather(rng.integers(0, 2, count)),
        "claim_subject": pl.Series(["", "file:1"]).gather(rng.integers(0, 2, count)),
        "input_text": text.gather(rng.integers(0, len(text), count))}).sort("agent", "ts")
    # Rows from ClickHouse arrive as Arrow with their strings in row order; polars' sort above
    # moved only the string views, and reads over scattered strings are slower.
    return pl.from_arrow(rows.to_arrow())  # type: ignore[return-value]


@dataclasses.dataclass
class Filled:
    chunks: list[Chunk]  # as the tail now holds them
    before: list[Chunk]  # the same, merged ones concatenated in arrival order
    merge_seconds: list[float]
    newest: int  # event time


def filled(args: argparse.Namespace) -> Filled:
    """One frame's chunk list after ``--minutes`` of ticks, both ways."""
    rng, chunks, merge_seconds = np.random.default_rng(args.seed), Chunks(max_bytes=2**40), []
    arrival: dict[int, tuple[Chunk, Chunk]] = {}  # id of a merged chunk -> it, its arrival-order twin
    ticks = int(args.minutes * 60 * SECOND_NS // TICK_NS)
    for n in range(ticks):
        rows = tick_rows(rng, int(args.rows_per_second * TICK_NS / SECOND_NS), n * TICK_NS, args.agents)
        chunks.add_new("turns", {"default": Chunk.of(rows, n)}, since=n)
        for merge in chunks.merges_due():
            began = time.perf_counter()
            merged = Chunk.merged(merge.parts)
            merge_seconds.append(time.perf_counter() - began)
            chunks.replace(merge, merged)
            parts = [twin(arrival, c).frame for c in merge.parts]
            for gone in merge.parts:
                arrival.pop(id(gone), None)
            arrival[id(merged)] = merged, dataclasses.replace(merged, frame=pl.concat(parts, rechunk=True), by_agent=False)
    held = chunks.overlapping("turns", "default", 0, 2**62)
    return Filled(held, [twin(arrival, c) for c in held], merge_seconds, ticks * TICK_NS)


def twin(arrival: dict[int, tuple[Chunk, Chunk]], chunk: Chunk) -> Chunk:
    known = arrival.get(id(chunk))
    return known[1] if known is not None and known[0] is chunk else chunk


def timed(read: Callable[[], Any], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        read()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rows-per-second", type=float, default=1200)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    fill = filled(args)
    chunks, before, merge_seconds, newest = fill.chunks, fill.before, fill.merge_seconds, fill.newest
    rng = np.random.default_rng(args.seed + 1)
    recent = pl.concat([c.frame for c in chunks if c.high >= newest - 60 * SECOND_NS])
    reads: dict[str, dict[str, Any]] = {
        f"{k} agents, whole window": {"agents": [f"agent-{a}" for a in rng.choice(args.agents, k, replace=False)]}
        for k in (1, 4, 16)}
    reads["20 traces of the last minute"] = {"traces": recent["trace"].sample(20, seed=args.seed).to_list(),
                                            "start": newest - 60 * SECOND_NS}
    # A trace whose start is unknown is read over the whole window.
    reads["the same 20 traces, whole window"] = {"traces": reads["20 traces of the last minute"]["traces"]}
    reads["whole window"] = {}
    figures: dict[str, Any] = {
        "chunks": len(chunks), "rows": sum(c.frame.height for c in chunks),
        "sorted_chunks": sum(c.by_agent for c in chunks),
        "merges": len(merge_seconds), "merge_p50_ms": round(1e3 * statistics.median(merge_seconds), 1),
        "merge_max_ms": round(1e3 * max(merge_seconds), 1), "reads_ms": {}}
    for name, read in reads.items():
        start, agents, traces = read.get("start", 0), read.get("agents"), read.get("traces")
        # The tail reads only the chunks that overlap the read's range (``Chunks.overlapping``).
        new, old = (functools.partial(select, [c for c in held if c.high >= start], start, newest + 1, traces, agents)
                    for held in (chunks, before))
        found_new, found_old = new(), old()
        assert found_new is not None and found_old is not None
        assert found_new.sort("ts", "span").equals(found_old.sort("ts", "span")), name
        timings: dict[str, list[float]] = {"sorted": [], "before": []}
        for _ in range(2):  # alternate, the better of two rounds
            timings["sorted"].append(timed(new, args.repeats))
            timings["before"].append(timed(old, args.repeats))
        figures["reads_ms"][name] = {"rows": found_new.height,
                                     **{k: round(1e3 * min(v), 2) for k, v in timings.items()}}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
