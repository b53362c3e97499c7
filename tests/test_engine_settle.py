"""Settle time and backlogs in the live lane (detectors/settle.py, detectors/early.py).

Detectors that a later span can contradict (``live_settle``) judge a changed trace live only
once its root span is in view and it has been quiet; on a backlog the live lane judges the
newest changed traces instead of none.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from detectors.context import EvalContext
from detectors.engine import DetectorEngine
from detectors.model import Candidate, Evidence
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.settle import SettlingTraces
from detectors.testing import SyntheticFleet
from fleetwatch.config import Settings
from tests.test_engine import ErrorBurst, heartbeat, inline

SETTLE_S = 0.3


class UnretriedCall(ErrorBurst):
    """A trace whose last model call failed (a later success takes the failure back)."""

    name = "unretried_call"
    early_by_trace = True
    live_settle = True
    default_window_seconds = 600
    default_threshold = 1

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        rows = ctx.rows(
            "SELECT TraceId, argMax(SpanId, Timestamp), min(toUnixTimestamp64Nano(Timestamp)) "
            "FROM otel_traces WHERE {window} AND SpanName = 'call' GROUP BY TraceId "
            "HAVING argMax(StatusCode, Timestamp) = 'STATUS_CODE_ERROR'")
        return [Candidate(key=f"trace:{t}", score=1.0, title="unretried", explanation="x",
                          agents=("ash",), evidence=(Evidence(t, s),), first_event_ns=first)
                for t, s, first in rows]


class SeenTraces(ErrorBurst):
    """Records the traces each live evaluation was given."""

    name = "seen_traces"
    early_by_trace = True
    default_window_seconds = 600
    seen: list[list[str]] = []

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        if ctx.traces is not None:
            self.seen.append(list(ctx.traces))
        return []


def engine_with(settings: Settings, ch: Client, *detectors: Any, **update: Any) -> DetectorEngine:
    registry = DetectorRegistry()
    for detector in detectors:
        registry.register(detector.from_policy(Policy()))
    return DetectorEngine(inline(settings).model_copy(update=update), ch, registry, Policy())


def primed(settings: Settings, ch: Client, fleet: SyntheticFleet, *detectors: Any,
           **update: Any) -> DetectorEngine:
    """An engine past five minutes of ``fleet``'s heartbeats (its first tick run), ready for
    the turns a test adds."""
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    engine = engine_with(settings, ch, *detectors, **update)
    engine.run_once()
    return engine


def call(fleet: SyntheticFleet, trace: str, at: float, *, error: bool, root: str) -> None:
    """A model call inside ``trace`` under its root span ``root`` (not a root itself)."""
    fleet.span("ash", at, {"gen_ai.operation.name": "chat"}, trace=trace, name="call", error=error)
    # SyntheticFleet makes every span a root; the settle rule needs a child.
    fleet._columns["ParentSpanId"][-1] = root


def root_span(fleet: SyntheticFleet, trace: str, at: float) -> str:
    _, span = fleet.span("ash", at, {"gen_ai.operation.name": "invoke_agent"}, trace=trace,
                         name="invoke_agent")
    return span


def primed_with_a_failed_turn(settings: Settings, ch: Client) -> tuple[SyntheticFleet, DetectorEngine, str]:
    """A primed engine that settles, and a finished turn (root in view) whose call failed."""
    fleet = SyntheticFleet()
    engine = primed(settings, ch, fleet, UnretriedCall, detector_live_settle_seconds=SETTLE_S)
    unretried = fleet.new_trace()
    call(fleet, unretried, 301, error=True, root="r2")
    root_span(fleet, unretried, 300.5)
    fleet.insert(ch)
    return fleet, engine, unretried


def fired(ch: Client) -> list[str]:
    rows = ch.query("SELECT EvidenceTraceIds FROM alerts WHERE Severity != 'info'").result_rows
    return sorted(t for (traces,) in rows for t in traces)


def test_a_settling_detector_waits_for_the_root_and_a_quiet_moment(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    engine = primed(settings, ch, fleet, UnretriedCall, detector_live_settle_seconds=SETTLE_S)
    retried, unretried = fleet.new_trace(), fleet.new_trace()
    call(fleet, retried, 300, error=True, root="r1")
    fleet.insert(ch)
    assert engine.run_once() == 0  # a failed call, no root yet: the turn is not over
    time.sleep(SETTLE_S + 0.1)
    assert engine.run_once() == 0  # quiet, but still no root
    call(fleet, retried, 301, error=False, root="r1")  # the retry succeeds
    root_span(fleet, retried, 299.5)
    call(fleet, unretried, 301, error=True, root="r2")
    root_span(fleet, unretried, 300.5)
    fleet.insert(ch)
    assert engine.run_once() == 0  # both turns over, neither quiet yet
    assert engine.live.settling.waiting("default") == 2
    time.sleep(SETTLE_S + 0.1)
    # No new spans for the tenant this tick: the settled traces are judged all the same.
    assert engine.run_once() == 1
    assert fired(ch) == [unretried]
    assert engine.live.settling.waiting("default") == 0


def test_without_settling_the_partial_turn_alerts(settings: Settings, ch: Client) -> None:
    """What settling prevents: judged at once, the failure the retry takes back alerts."""
    fleet = SyntheticFleet()
    engine = primed(settings, ch, fleet, UnretriedCall, detector_live_settle_seconds=0)
    retried = fleet.new_trace()
    call(fleet, retried, 300, error=True, root="r1")
    fleet.insert(ch)
    assert engine.run_once() == 1
    assert fired(ch) == [retried]


@pytest.mark.parametrize("tail_mb", [0, 64])
def test_a_backlog_judges_the_newest_traces(settings: Settings, ch: Client, tail_mb: int) -> None:
    """Without the span tail a backlog's newest traces are judged (within the threshold); with
    the tail holding them, judging reads memory, and the whole backlog is judged."""
    fleet = SyntheticFleet()
    engine = primed(settings, ch, fleet, SeenTraces, detector_early_max_traces=2,
                    detector_tail_max_mb=tail_mb)
    SeenTraces.seen = []
    traces = [fleet.new_trace() for _ in range(5)]
    for k, trace in enumerate(traces):
        fleet.span("ash", 300 + k, {"gen_ai.operation.name": "chat"}, trace=trace)
    fleet.insert(ch)
    engine.run_once()
    judged = traces if tail_mb else traces[-2:]
    assert sorted(t for seen in SeenTraces.seen for t in seen) == sorted(judged)
    assert engine.live.backlogs[-1] == (5, len(judged))  # (the first tick met the heartbeats as a backlog)


def test_settling_is_bounded_and_gives_up_on_rootless_traces() -> None:
    settling = SettlingTraces(settle_s=1.0, max_pending=3, give_up_s=10.0)
    settling.note("t", ["a", "b"], {"a"}, now=0.0)
    assert list(settling.ready("t", now=0.5)) == []  # not quiet yet
    settling.note("t", ["a"], set(), now=0.6)  # changed again (still rooted): quiet from 0.6
    assert list(settling.ready("t", now=1.2)) == []
    assert list(settling.ready("t", now=1.7)) == ["a"]
    settling.note("t", ["c", "d", "e"], {"c", "d", "e"}, now=2.0)  # four waiting, three allowed
    assert settling.dropped == 1 and settling.waiting("t") == 3  # "b", the oldest, dropped
    assert list(settling.ready("t", now=3.0)) == ["c", "d", "e"]
    settling.note("t", ["f"], set(), now=4.0)
    assert not settling.ready("t", now=13.0) and settling.waiting("t") == 1
    assert not settling.ready("t", now=14.0) and settling.waiting("t") == 0
    assert settling.dropped == 2


def test_quiet_is_measured_in_ingest_time_too() -> None:
    """A trace whose last span was inserted a settle time before the newest insert the scan
    read is settled when first seen; one inserted later waits on the engine's clock."""
    settling = SettlingTraces(settle_s=1.0)
    second = 1_000_000_000
    stamps = {"early": 100 * second, "late": 100 * second + second // 2}
    settling.note("t", ["early", "late"], {"early", "late"}, now=0.0, ingested=stamps)
    assert list(settling.ready("t", now=0.0, read_to_ns=101 * second)) == ["early"]
    assert list(settling.ready("t", now=0.2, read_to_ns=101 * second)) == []  # nothing newer read
    settling.note("t", ["late"], {"late"}, now=0.3, ingested={"late": 101 * second})  # changed again
    assert list(settling.ready("t", now=0.4, read_to_ns=101 * second + second // 2)) == []
    assert list(settling.ready("t", now=1.3, read_to_ns=101 * second)) == ["late"]  # engine clock


def test_quiet_is_counted_from_the_scan_that_saw_the_change(settings: Settings, ch: Client,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick whose work after the scan ran long does not push its traces' quiet back: the next
    tick, a settle time after this one's scan, judges them."""
    _, engine, unretried = primed_with_a_failed_turn(settings, ch)
    update_tail = engine._update_tail

    def slow_update(*args: Any) -> None:
        time.sleep(SETTLE_S * 0.8)
        update_tail(*args)

    monkeypatch.setattr(engine, "_update_tail", slow_update)
    began = time.monotonic()
    assert engine.run_once() == 0  # seen, rooted, not quiet yet
    monkeypatch.setattr(engine, "_update_tail", update_tail)
    time.sleep(max(0.0, began + SETTLE_S + 0.01 - time.monotonic()))
    # Barely longer than the settle time since the first scan, and nothing inserted since:
    # measured from when the slow tick got to the trace, it would not be quiet yet.
    assert engine.run_once() == 1
    assert fired(ch) == [unretried]


def test_quiet_allows_for_the_ticks_scheduling_jitter() -> None:
    settling = SettlingTraces(settle_s=0.5)
    settling.note("t", ["a", "b"], {"a", "b"}, now=10.0)
    assert list(settling.ready("t", now=10.49)) == ["a", "b"]  # one 0.5 s tick later, nearly
    settling.note("t", ["c"], {"c"}, now=11.0)
    assert list(settling.ready("t", now=11.4)) == []


def test_a_trace_quiet_before_the_tick_is_judged_on_first_sight(settings: Settings, ch: Client) -> None:
    fleet, engine, unretried = primed_with_a_failed_turn(settings, ch)
    time.sleep(SETTLE_S + 0.1)
    heartbeat(fleet, "flux", 300, 301)  # a later insert: the scan reads past the turn's
    fleet.insert(ch)
    assert engine.run_once() == 1  # quiet for the settle time already: no tick's wait
    assert fired(ch) == [unretried]


def test_a_settled_trace_keeps_the_earliest_start_it_was_noted_with() -> None:
    settling = SettlingTraces(settle_s=1.0)
    settling.note("t", ["a", "b"], set(), now=0.0, starts={"a": 50, "b": 70})  # children first
    settling.note("t", ["a", "b"], {"a", "b"}, now=0.5, starts={"a": 40, "b": 90})  # then roots
    settling.note("t", ["c"], {"c"}, now=0.5)  # no start known
    assert settling.ready("t", now=2.0) == {"a": 40, "b": 70, "c": None}


def test_a_tick_judges_settled_traces_before_the_changed_ones(settings: Settings, ch: Client) -> None:
    """Settled traces have waited already; the changed traces' part (every trace detector) goes
    after them."""
    order: list[str] = []

    class SettledFirst(UnretriedCall):
        def candidates(self, ctx: EvalContext) -> list[Candidate]:
            order.extend(["settled"] if ctx.live else [])
            return super().candidates(ctx)

    class ChangedAfter(SeenTraces):
        def candidates(self, ctx: EvalContext) -> list[Candidate]:
            order.extend(["changed"] if ctx.live else [])
            return []

    fleet = SyntheticFleet()
    engine = primed(settings, ch, fleet, ChangedAfter, SettledFirst, detector_live_settle_seconds=SETTLE_S)
    unretried = fleet.new_trace()
    call(fleet, unretried, 301, error=True, root="r2")
    root_span(fleet, unretried, 300.5)
    fleet.insert(ch)
    engine.run_once()  # seen, not yet quiet: only the changed part
    time.sleep(SETTLE_S + 0.1)
    order.clear()
    heartbeat(fleet, "flux", 301, 302)  # new traces this tick, and the turn settles
    fleet.insert(ch)
    assert engine.run_once() == 1
    # (Each part's traces come in chunks, recent and older apart: one call per chunk.)
    assert "settled" in order and "settled" not in order[order.index("changed"):]
    assert fired(ch) == [unretried]
