"""The span tail's chunk lists (detectors/tail_chunks.py) on their own: which chunks a merge
takes, that merged chunks are sorted by agent and answer agent reads by slices, and that a merge
run outside the lock is dropped when one of its parts was evicted meanwhile."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from bench import tail_reads
from detectors.tail_chunks import COMPACT_ABOVE, COMPACT_COUNT, SMALL_ROWS, Chunk, Chunks

AGENTS = [f"agent-{n}" for n in range(40)]


def rows(rng: np.random.Generator, count: int, first_ts: int) -> pl.DataFrame:
    ids = pl.Series(rng.choice(10**12, count, replace=False)).cast(pl.String)
    return pl.DataFrame({
        "ts": np.sort(rng.integers(first_ts, first_ts + 1000, count)),
        "trace": "t" + ids, "span": "s" + ids,
        "agent": pl.Series(AGENTS).gather(rng.integers(0, len(AGENTS), count)),
        "text": pl.int_range(count, eager=True).cast(pl.String)})


def filled(count: int, rows_each: int, seed: int = 1) -> Chunks:
    rng, chunks = np.random.default_rng(seed), Chunks(max_bytes=2**40)
    for n in range(count):
        chunks.add_new("turns", {"default": Chunk.of(rows(rng, rows_each, 1000 * n), n)}, since=n)
    return chunks


def test_a_merge_takes_the_oldest_small_chunks_and_sorts_them_by_agent() -> None:
    chunks = filled(COMPACT_ABOVE, 10)
    assert chunks.merges_due() == []  # not over the limit yet
    chunks = filled(COMPACT_ABOVE + 1, 10)
    (merge,) = chunks.merges_due()
    assert [c.ingested for c in merge.parts] == list(range(COMPACT_COUNT))
    merged = Chunk.merged(merge.parts)
    assert merged.by_agent and merged.frame["agent"].is_sorted()
    assert (merged.low, merged.high, merged.ingested) == (merge.parts[0].low, merge.parts[-1].high, COMPACT_COUNT - 1)
    chunks.replace(merge, merged)
    assert chunks.count == COMPACT_ABOVE + 1 - COMPACT_COUNT + 1 and chunks.rows == (COMPACT_ABOVE + 1) * 10


def test_a_merge_stops_at_small_rows() -> None:
    chunks = filled(COMPACT_ABOVE + 1, SMALL_ROWS // 3 + 1)
    (merge,) = chunks.merges_due()
    assert len(merge.parts) == 3  # the third crosses SMALL_ROWS; merged chunks stay under twice it


def test_agent_rows_of_a_sorted_chunk_are_exactly_the_filter() -> None:
    rng = np.random.default_rng(2)
    frame = rows(rng, 2000, 0)
    sorted_chunk, plain = Chunk.of(frame, 0, by_agent=True), Chunk.of(frame, 0)
    for wanted in (["agent-3"], ["agent-39", "agent-0", "agent-17"], ["nobody", "agent-5"], []):
        expected = frame.filter(pl.col("agent").is_in(wanted)).sort("ts", "span")
        agents = pl.Series(sorted(wanted), dtype=pl.String)
        sliced = pl.concat([frame.clear(), *sorted_chunk.rows_of(agents)])
        assert sliced.sort("ts", "span").equals(expected)
        assert len(sorted_chunk.rows_of(agents)) == len({a for a in wanted if a in AGENTS})
        assert plain.rows_of(agents)[0] is plain.frame  # unsorted: every row, for the filter


def test_a_merge_whose_part_was_evicted_meanwhile_is_dropped() -> None:
    chunks = filled(COMPACT_ABOVE + 1, 10)
    (merge,) = chunks.merges_due()
    merged = Chunk.merged(merge.parts)
    chunks.evict(merge.parts[0].high + 1)  # the oldest part went while the merge ran
    before = (chunks.count, chunks.rows, chunks.bytes)
    chunks.replace(merge, merged)
    assert (chunks.count, chunks.rows, chunks.bytes) == before
    chunks.add_new("turns", {"default": Chunk.of(rows(np.random.default_rng(3), 10, 10**6), 99)}, since=99)
    (again,) = chunks.merges_due()  # the next update merges afresh, from what is left
    assert id(merge.parts[0]) not in {id(c) for c in again.parts} and again.parts[0] is merge.parts[1]


def test_the_read_bench_runs_and_finds_the_same_rows_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    tail_reads.main(["--minutes", "1", "--rows-per-second", "400", "--agents", "50", "--repeats", "1"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["sorted_chunks"] >= 1 and figures["merges"] >= 1
    assert figures["reads_ms"]["1 agents, whole window"]["rows"] > 0
