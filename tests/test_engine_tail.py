"""The span tail (detectors/tail.py) answers window reads exactly as ClickHouse does, or not at all.

On the real engine (chDB): spans inserted batch by batch with the tail updated in between (each
update re-reading an overlap, as the engine's does), a seed of what was there before the tail
started, redelivered spans, and a memory bound; every read is held against the window query.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from collector.spans_table import SPAN_COLUMNS
from detectors.builtin import frames
from detectors.builtin.catalogue import BUILTIN_DETECTORS, builtin_registry
from detectors.context import WINDOW_FILTER, EvalContext, ScratchBaseline
from detectors.engine import DetectorEngine
from detectors.model import Window
from detectors.policy import Policy
from detectors.scan import IngestScanner
from detectors.state import BaselineStore
from detectors.tail import MAX_LATE_TRACES, SpanTail
from detectors.tail_chunks import COMPACT_ABOVE
from detectors.testing import ORIGIN_NS, SyntheticFleet
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from tests.test_engine_slices import busy_fleet

S = 1_000_000_000
CATALOGUE = [d.name for d in BUILTIN_DETECTORS]
AGENTS = ["ash", "flux", "mira", "quinn"]


def traffic(fleet: SyntheticFleet, rng: random.Random, start_s: float, seconds: float) -> list[str]:
    """Turns with tool calls, sends and model calls at random times; returns the trace ids."""
    traces = []
    for _ in range(int(seconds)):
        at = start_s + rng.uniform(0, seconds)
        agent = rng.choice(AGENTS)
        turn = fleet.instruction(agent, f"discord:{rng.randint(1, 5)}", at,
                                 gen_ai__conversation__id=f"c{rng.randint(1, 9)}")
        fleet.tool(agent, rng.choice(["file.write", "email.delete", "shell"]), at + 0.2, turn,
                   fleet__action__target=f"file:{rng.randint(1, 50)}")
        fleet.chat(agent, at + 0.1, turn, error=rng.random() < 0.1)
        fleet.send(agent, [f"discord:{rng.randint(1, 5)}"], at + 0.3, turn, text="done")
        traces.append(turn)
    return traces


def window_query(ch: Client, sql: str, start: int, end: int, traces: list[str] | None = None,
                 agents: list[str] | None = None) -> pl.DataFrame:
    text = WINDOW_FILTER + (" AND TraceId IN {t:Array(String)}" if traces is not None else "") + (
        " AND AgentId IN {a:Array(String)}" if agents is not None else "")
    params: dict[str, Any] = {"tenant": "default", "start_ns": start, "end_ns": end, "t": traces, "a": agents}
    frame = pl.from_arrow(ch.query_arrow(sql.replace("{window}", text), parameters=params))
    assert isinstance(frame, pl.DataFrame)
    return frame


def same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.schema == b.schema and a.sort("ts", "span").equals(b.sort("ts", "span"))


def fresh_tail(max_bytes: int = 2**30, max_late_traces: int = MAX_LATE_TRACES) -> SpanTail:
    return SpanTail(frames.SHARED, frames.rows_sql(frames.SHARED), keep_ns=3600 * S, max_bytes=max_bytes, seed_slice_ns=90 * S,
                    settle_ns=0, max_late_traces=max_late_traces)


def fed_batch_by_batch(ch: Client, tail: SpanTail, batches: int, rng: random.Random,
                       seconds: int = 60) -> list[str]:
    """Batches of ``seconds`` of traffic, the tail updated after each from a second before the
    previous update (an overlap it must not count twice)."""
    fleet, traces, since = SyntheticFleet(), [], 0
    for b in range(batches):
        traces += traffic(fleet, rng, float(seconds * b), float(seconds))
        fleet.insert(ch)
        time.sleep(0.01)  # IngestedAt has millisecond precision
        now = time.time_ns()
        tail.update(ch, since, ORIGIN_NS + seconds * (b + 1) * S)
        since = now - S
    return traces


def assert_reads_match(ch: Client, tail: SpanTail, traces: list[str], rng: random.Random,
                       lowest: int, highest: int) -> None:
    for _ in range(12):
        start = rng.randint(lowest, highest - 1)
        end = rng.randint(start + 1, highest + S)
        some = rng.sample(traces, 20) if rng.random() < 0.4 else None
        agents = rng.sample(AGENTS, 2) if some is None and rng.random() < 0.5 else None
        for frame in frames.SHARED:
            held = tail.read(frame.window_sql, "default", start, end, some, agents)
            assert held is not None, (frame.name, start - ORIGIN_NS)
            assert same_rows(held, window_query(ch, frame.window_sql, start, end, some, agents)), frame.name
            assert held["ts"].is_sorted()


def test_updates_hold_exactly_what_the_window_query_returns(ch: Client) -> None:
    rng = random.Random(11)
    tail = fresh_tail()
    traces = fed_batch_by_batch(ch, tail, 6, rng)
    covered = tail.covered_from  # nothing was ingested before the first update: no seed
    assert covered is not None and covered <= ORIGIN_NS
    assert_reads_match(ch, tail, traces, rng, ORIGIN_NS, ORIGIN_NS + 360 * S)
    assert tail.status()["rows"] == sum(  # the overlaps were not counted twice
        window_query(ch, f.window_sql, 0, 2**62).height for f in frames.SHARED)


def test_merged_chunks_hold_exactly_what_the_window_query_returns(ch: Client) -> None:
    """Past COMPACT_ABOVE updates the oldest chunks are merged and sorted by agent: reads of a
    few agents slice them, and still return the window query's rows."""
    rng = random.Random(17)
    tail = fresh_tail()
    traces = fed_batch_by_batch(ch, tail, 2 * COMPACT_ABOVE, rng, seconds=4)
    status = tail.status()
    assert status["chunks"] <= len(frames.SHARED) * (COMPACT_ABOVE + 1)
    assert status["rows"] == sum(window_query(ch, f.window_sql, 0, 2**62).height for f in frames.SHARED)
    end = ORIGIN_NS + 8 * COMPACT_ABOVE * S
    for agents in (["ash"], ["quinn", "flux", "quinn"], ["nobody"]):
        for frame in frames.SHARED:
            held = tail.read(frame.window_sql, "default", ORIGIN_NS, end, agents=agents)
            assert held is not None and held["ts"].is_sorted()
            assert same_rows(held, window_query(ch, frame.window_sql, ORIGIN_NS, end, agents=agents)), frame.name
    assert_reads_match(ch, tail, traces, rng, ORIGIN_NS, end)


def test_seed_loads_what_was_there_before_the_tail(ch: Client) -> None:
    rng = random.Random(12)
    fleet = SyntheticFleet()
    traces = traffic(fleet, rng, 0, 300)
    fleet.insert(ch)
    time.sleep(0.01)
    tail = fresh_tail()
    tail.update(ch, time.time_ns(), ORIGIN_NS + 300 * S)  # an engine that starts from a cursor
    assert tail.covered_from is None
    assert tail.read(frames.TURNS.window_sql, "default", ORIGIN_NS, ORIGIN_NS + 300 * S) is None
    steps = 0
    while tail.seed_step(ch):
        steps += 1
    assert steps == 3600 // 90 + 1  # newest first, 90 s a slice, down to the hour it keeps
    assert tail.covered_from is not None and tail.covered_from <= ORIGIN_NS
    assert_reads_match(ch, tail, traces, rng, ORIGIN_NS, ORIGIN_NS + 300 * S)


def test_a_redelivered_batch_is_held_once(ch: Client) -> None:
    fleet = SyntheticFleet()
    traffic(fleet, random.Random(13), 0, 30)
    columns = dict(fleet._columns)
    tail = fresh_tail()
    fleet.insert(ch)
    tail.update(ch, 0, ORIGIN_NS + 30 * S)
    fleet._columns = columns  # the same spans again, as a redelivered batch would be
    fleet.insert(ch)
    tail.update(ch, time.time_ns() - 60 * S, ORIGIN_NS + 30 * S)
    once = window_query(ch, frames.TURNS.window_sql, 0, 2**62).unique(["trace", "span"])
    held = tail.read(frames.TURNS.window_sql, "default", ORIGIN_NS, ORIGIN_NS + 60 * S)
    assert held is not None and held.height == once.height == 30


def insert_stamped(settings: Settings, ch: Client, fleet: SyntheticFleet, ingested_ns: int) -> None:
    """Insert ``fleet``'s spans with IngestedAt ``ingested_ns``: a commit that lands after
    another insert stamped later than it (two inserts racing)."""
    stage = f"{settings.clickhouse_database}_stage"
    staged = connect(settings, database=stage)
    migrate(staged)
    fleet.insert(staged)
    columns = ", ".join(f"`{c}`" for c in SPAN_COLUMNS)
    ch.command(f"INSERT INTO otel_traces ({columns}, IngestedAt) SELECT {columns}, "
               f"fromUnixTimestamp64Nano({ingested_ns}) FROM `{stage}`.otel_traces")
    ch.command(f"DROP DATABASE `{stage}`")


@pytest.mark.parametrize("max_late", [MAX_LATE_TRACES, 5], ids=["named", "too-many-starts-over"])
def test_updates_past_the_cursor_still_hold_late_commits(settings: Settings, ch: Client, max_late: int) -> None:
    """As the engine runs it: the tail reads only past the scan's cursor, plus the traces the
    scan found committed behind it; every span is held once all the same. With more late traces
    than it names in a query, the tail starts over from the cursor and seeds the rest."""
    rng, fleet = random.Random(16), SyntheticFleet()
    scanner, tail = IngestScanner(ch, overlap_ns=30 * S, skew_ms=300_000), fresh_tail(max_late_traces=max_late)
    cursor = 0

    def tick() -> list[str]:
        nonlocal cursor
        news, newest = scanner.scan(cursor)
        tail.update(ch, scanner.since, max((n.max_ns for n in news), default=0), cursor, scanner.late)
        cursor = newest or cursor
        return scanner.late

    traces = traffic(fleet, rng, 0, 60)
    fleet.insert(ch)
    assert tick() == []
    traces += traffic(fleet, rng, 60, 60)
    fleet.insert(ch)
    assert tick() == []
    racing = SyntheticFleet(_ids=itertools.count(10_000))  # trace ids of its own
    late = traffic(racing, rng, 90, 30)
    insert_stamped(settings, ch, racing, cursor - 500_000_000)
    traces += traffic(fleet, rng, 120, 30)
    fleet.insert(ch)
    assert sorted(tick()) == sorted(late)
    assert tail.status()["seeding"] == (len(late) > max_late)
    assert tick() == []  # re-read in the overlap, but not late again
    while tail.seed_step(ch):
        pass
    assert_reads_match(ch, tail, traces + late, rng, ORIGIN_NS, ORIGIN_NS + 150 * S)
    assert tail.status()["rows"] == sum(
        window_query(ch, f.window_sql, 0, 2**62).height for f in frames.SHARED)


def test_a_tail_starting_at_the_cursor_names_no_late_traces(ch: Client) -> None:
    """After a restart the scan has seen nothing, so every trace of its overlap is late: more
    than ClickHouse takes in one bound array after a backfill. A tail that starts at the cursor
    seeds what lies before it and names none of them."""
    rng, fleet = random.Random(18), SyntheticFleet()
    traces = traffic(fleet, rng, 0, 120)
    fleet.insert(ch)
    time.sleep(0.01)
    tail = fresh_tail()
    tail.update(ch, 0, ORIGIN_NS + 120 * S, time.time_ns(), ["trace"] * 1_200_000)
    while tail.seed_step(ch):
        pass
    assert_reads_match(ch, tail, traces, rng, ORIGIN_NS, ORIGIN_NS + 120 * S)


def test_memory_bound_drops_the_oldest_and_reads_fall_back(ch: Client) -> None:
    rng = random.Random(14)
    roomy = fresh_tail()
    fed_batch_by_batch(ch, roomy, 6, rng)
    size = roomy.status()["bytes"]
    tight = fresh_tail(max_bytes=size // 3)
    tight.update(ch, 0, ORIGIN_NS + 360 * S)
    status = tight.status()
    assert 0 < status["bytes"] <= size // 3
    covered = tight.covered_from
    assert covered is not None and covered > ORIGIN_NS + 60 * S  # the oldest minutes went
    assert tight.read(frames.TOOLS.window_sql, "default", ORIGIN_NS, ORIGIN_NS + 360 * S) is None
    recent = tight.read(frames.TOOLS.window_sql, "default", covered, ORIGIN_NS + 360 * S)
    assert recent is not None and same_rows(
        recent, window_query(ch, frames.TOOLS.window_sql, covered, ORIGIN_NS + 360 * S))


def test_every_detector_finds_the_same_from_the_tail(ch: Client) -> None:
    busy_fleet().insert(ch)
    tail = fresh_tail()
    tail.update(ch, 0, ORIGIN_NS + 600 * S)
    window = Window("default", ORIGIN_NS, ORIGIN_NS + 600 * S)

    def context(tail: SpanTail | None) -> EvalContext:
        baseline = ScratchBaseline(BaselineStore(ch), "default", "any")
        return EvalContext(ch, window, Policy(), baseline, tail=tail)

    for detector in builtin_registry(Policy()):
        assert detector.candidates(context(None)) == detector.candidates(context(tail)), detector.name
    assert tail.reads["held"] > 0


def test_engine_alerts_the_same_with_and_without_the_tail(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    fleet.agent("mira", owners=["discord:1001"], principal="discord:2003")
    traffic(fleet, random.Random(15), 0, 40)
    rude = fleet.instruction("mira", "discord:9001", 20, name="Mallory")
    for k in range(12):
        fleet.tool("mira", "email.delete", 20 + k, rude, fleet__action__kind="delete",
                   fleet__action__target=f"email:{k}")
    fleet.insert(ch)
    policy = Policy.model_validate({"detectors": {
        name: {"enabled": name in ("authority", "destructive")} for name in CATALOGUE}})
    found = {}
    for megabytes in (0, 64):
        engine = DetectorEngine(settings.model_copy(update={"detector_tail_max_mb": megabytes}),
                                ch, builtin_registry(policy), policy)
        engine.drain()
        rows = ch.query("SELECT Detector, Status, Agents, EvidenceTraceIds FROM alerts ORDER BY ALL")
        found[megabytes] = rows.result_rows
        for table in ("alerts", "detector_cursors", "detector_baselines", "detector_status"):
            ch.command(f"TRUNCATE TABLE {table}")
        status: Any = engine.status()
        if engine.tail is not None:
            assert engine.tail.reads["held"] > 0 and engine.tail.reads["missed"] == 0
            assert status["span_tail"]["rows"] > 0 and status["span_tail"]["holds_seconds"] >= 40
        else:
            assert "span_tail" not in status
    assert "authority" in {row[0] for row in found[0]}
    assert found[0] == found[64]
