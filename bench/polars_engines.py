"""How long a small polars query waits while another thread runs a large one, by the engine each
uses. polars' in-memory engine runs every query on one process-wide thread pool; the streaming
engine runs on threads of its own. Session 9 (docs/benchmarks.md) tried computing the sweep's
whole-window frames on the streaming engine so the live tick's small queries would not queue
behind them: this micro-benchmark says it should help; the detector bench said it did not.

    python3 bench/polars_engines.py [--rows 6000000] [--repeats 40]

Prints the small query's p50 and max on each engine, alone and beside the large query on each.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Literal

import numpy as np
import polars as pl

Engine = Literal["in-memory", "streaming"]
ENGINES: tuple[Engine, ...] = ("in-memory", "streaming")


def large_query(rows: int) -> pl.LazyFrame:
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"a": rng.integers(0, rows // 30, rows), "b": rng.random(rows),
                          "c": rng.integers(0, 50, rows)})
    return frame.lazy().group_by("a").agg(pl.col("b").sum(), pl.col("c").n_unique()).sort("a")


def small_query() -> pl.LazyFrame:
    rng = np.random.default_rng(2)
    n = 300_000
    frame = pl.DataFrame({"ts": np.arange(n), "trace": rng.integers(0, 30_000, n), "x": rng.random(n)})
    return (frame.lazy().filter(pl.col("trace").is_in(list(range(0, 3_000, 7)))).sort("ts")
            .group_by("trace").agg(pl.len(), pl.col("x").sum()))


def timed(query: pl.LazyFrame, engine: Engine, repeats: int) -> dict[str, float]:
    took = []
    for _ in range(repeats):
        began = time.perf_counter()
        query.collect(engine=engine)
        took.append(time.perf_counter() - began)
        time.sleep(0.03)
    took.sort()
    return {"p50_ms": round(took[len(took) // 2] * 1000, 1), "max_ms": round(took[-1] * 1000, 1)}


def beside(large: pl.LazyFrame, large_engine: Engine, small: pl.LazyFrame, repeats: int) -> dict[str, object]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            large.collect(engine=large_engine)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    time.sleep(1.0)
    try:
        return {f"small on {e}": timed(small, e, repeats) for e in ENGINES}
    finally:
        stop.set()
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    large, small = large_query(args.rows), small_query()
    report: dict[str, object] = {"threads": pl.thread_pool_size(), "polars": pl.__version__,
                                 "alone": {f"small on {e}": timed(small, e, args.repeats) for e in ENGINES}}
    for engine in ENGINES:
        report[f"beside large on {engine}"] = beside(large, engine, small, args.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
