"""The live lane on real chDB: agent-scoped live evaluation, its bound on agents, reading changed
traces only from their start, and the directory kept from new rows."""

from __future__ import annotations

import time
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.base import SECOND_NS
from detectors.context import EvalContext, ScratchBaseline
from detectors.engine import DetectorEngine
from detectors.live_directory import TenantDirectories
from detectors.model import Candidate, Window
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.state import BaselineStore
from detectors.testing import SyntheticFleet
from fleetwatch.config import Settings
from tests.test_engine import ErrorBurst, TraceFailures, alerts, failing_trace, failures, heartbeat, inline


class AgentFailures(ErrorBurst):
    """Failures per agent over ten minutes, across traces: live only by agent."""

    name = "agent_failures"
    early_by_agent = True
    default_window_seconds = 600
    default_threshold = 5
    live_contexts: list[dict[str, Any]] = []

    def live_agents(self, ctx: EvalContext) -> set[str]:
        rows = ctx.rows("SELECT DISTINCT AgentId FROM otel_traces "
                        "WHERE {window} AND StatusCode = 'STATUS_CODE_ERROR'")
        return {str(agent) for (agent,) in rows}

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        if ctx.live:
            self.live_contexts.append(ctx.bounds)
        return super().candidates(ctx)


class TraceStarts(ErrorBurst):
    """Records where a trace-scoped live evaluation starts reading."""

    name = "trace_starts"
    early_by_trace = True
    default_window_seconds = 600
    seen: list[dict[str, Any]] = []

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        if ctx.live:
            self.seen.append(ctx.bounds)
        return []


class AlertsSoFar(ErrorBurst):
    """Judged live after TraceFailures (registered after it): counts its alerts already written."""

    name = "alerts_so_far"
    early_by_trace = True
    default_window_seconds = 600
    counts: list[int] = []

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        if ctx.live:
            rows = ctx.client.query("SELECT count() FROM alerts WHERE Detector = 'trace_failures'")
            self.counts.append(int(rows.result_rows[0][0]))
        return []


def engine_with(settings: Settings, ch: Client, *detectors: Any) -> DetectorEngine:
    """An engine whose full windows run inside its ticks (``threaded_engine_with``: apart)."""
    return threaded_engine_with(inline(settings), ch, *detectors)


def threaded_engine_with(settings: Settings, ch: Client, *detectors: Any) -> DetectorEngine:
    """An engine as ``settings`` say (the sweep on its own thread unless they turn it off)."""
    registry = DetectorRegistry()
    for detector in detectors:
        registry.register(detector.from_policy(Policy()))
    return DetectorEngine(settings, ch, registry, Policy())


def test_agent_scope_counts_the_agents_older_traces(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    heartbeat(fleet, "flux", 0, 300)
    failures(fleet, "ash", 200, 3)  # three failed traces: below the threshold of five
    fleet.insert(ch)
    AgentFailures.live_contexts = []
    engine = engine_with(settings, ch, AgentFailures)
    assert engine.run_once() == 0
    # Two more failed traces now: only ash's whole window (older traces too) makes five.
    failures(fleet, "ash", 299, 2, every=0.2)
    failures(fleet, "flux", 299, 2, every=0.2)
    fleet.insert(ch)
    assert engine.run_once() == 1
    fired = [r for r in alerts(ch) if r["Severity"] != "info"]
    assert [r["Agents"] for r in fired] == [["ash"]]
    assert len(fired[0]["EvidenceSpanIds"]) == 5
    # The live evaluation read the named agents only, over the whole window.
    last = AgentFailures.live_contexts[-1]
    assert sorted(last["live_agents"]) == ["ash", "flux"]
    assert last["end_ns"] - last["start_ns"] == 600 * SECOND_NS
    # The full windows later confirm it: the same incident, no second alert.
    heartbeat(fleet, "ash", 300, 500)
    fleet.insert(ch)
    engine.drain()
    fired = [r for r in alerts(ch) if r["Severity"] != "info"]
    assert len({r["AlertId"] for r in fired}) == 1


def test_a_threaded_engine_judges_agents_beside_its_ticks(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    heartbeat(fleet, "flux", 0, 300)
    failures(fleet, "ash", 200, 3)
    fleet.insert(ch)
    threaded = settings.model_copy(update={"detector_sweep_thread": True, "detector_live_agents_thread": True})
    engine = threaded_engine_with(threaded, ch, AgentFailures)
    try:
        engine.run_once()
        failures(fleet, "ash", 299, 2, every=0.2)
        fleet.insert(ch)
        # The tick hands the by-agent part to the lane: its alert is written there, not counted.
        assert engine.run_once() == 0
        deadline = time.monotonic() + 30
        while not (engine.live.agent_lane.idle() and engine.live.agent_lane.written):
            assert time.monotonic() < deadline, "the agent lane wrote nothing"
            time.sleep(0.05)
    finally:
        engine.close()
    fired = [r for r in alerts(ch) if r["Severity"] != "info"]
    assert [r["Agents"] for r in fired] == [["ash"]]
    assert engine.live.agent_lane.written == 1 and engine.live.agent_lane.dropped == 0


def test_each_detectors_live_alerts_are_written_before_the_next_judges(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    engine = engine_with(settings, ch, TraceFailures, AlertsSoFar)
    engine.run_once()
    failing_trace(fleet, "ash", 299, 3)
    fleet.insert(ch)
    AlertsSoFar.counts = []
    assert engine.run_once() == 1
    assert AlertsSoFar.counts == [1]  # the alert was in ClickHouse while the next detector ran


def test_too_many_agents_wait_for_the_full_window(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    failures(fleet, "ash", 200, 3)
    fleet.insert(ch)
    capped = settings.model_copy(update={"detector_live_max_agents": 1})
    engine = engine_with(capped, ch, AgentFailures)
    engine.run_once()
    failures(fleet, "ash", 299, 2, every=0.2)
    failures(fleet, "flux", 299, 1)
    fleet.insert(ch)
    assert engine.run_once() == 0  # two agents to re-judge, one allowed: none live
    heartbeat(fleet, "ash", 300, 500)
    fleet.insert(ch)
    engine.drain()
    assert [r["Agents"] for r in alerts(ch) if r["Severity"] != "info"] == [["ash"]]


def test_changed_traces_are_read_from_their_start(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 400)
    fleet.insert(ch)
    TraceStarts.seen = []
    engine = engine_with(settings, ch, TraceStarts)
    long_turn = failing_trace(fleet, "flux", 200, 1)  # started minutes ago, goes on now
    fleet.insert(ch)
    engine.run_once()
    TraceStarts.seen = []
    trace = failing_trace(fleet, "ash", 395, 2)
    fleet.tool("ash", "shell", 401, trace)  # the trace goes on past its first spans
    fleet.tool("flux", "shell", 401, long_turn)
    fleet.insert(ch)
    engine.run_once()
    # The recent trace is read apart from the long one, from its first second on.
    recent, older = TraceStarts.seen
    assert recent["fresh_traces"] == [trace] and older["fresh_traces"] == [long_turn]
    begins = fleet.origin_ns + 395 * SECOND_NS
    assert begins - SECOND_NS < recent["start_ns"] <= begins
    assert recent["end_ns"] - recent["start_ns"] < 10 * SECOND_NS
    assert older["start_ns"] <= fleet.origin_ns + 200 * SECOND_NS


def test_directory_learns_from_new_rows(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    fleet.agent("ash", owners=["alice"])
    heartbeat(fleet, "ash", 0, 60)
    fleet.insert(ch)
    directories = TenantDirectories(ch, Policy(), 600 * SECOND_NS)
    end = fleet.origin_ns + 61 * SECOND_NS
    seeded = directories.update("default", end, 0)
    assert seeded.owners("ash") == {"alice"} and not seeded.knows_owners("flux")
    since = int(ch.query("SELECT toUnixTimestamp64Nano(max(IngestedAt)) FROM otel_traces").result_rows[0][0])
    fleet.agent("flux", owners=["bob"], principal="agent:flux")
    heartbeat(fleet, "flux", 60, 70)
    fleet.insert(ch)
    updated = directories.update("default", end + 10 * SECOND_NS, since)
    assert updated.owners("flux") == {"bob"} and updated.owners("ash") == {"alice"}
    assert updated.is_agent("agent:flux")


def test_live_context_marks_itself(settings: Settings, ch: Client) -> None:
    window = Window("default", 0, SECOND_NS)
    baseline = ScratchBaseline(BaselineStore(ch), "default", "x")
    assert not EvalContext(ch, window, Policy(), baseline).live
    assert EvalContext(ch, window, Policy(), baseline, traces=["t"]).live
    assert EvalContext(ch, window, Policy(), baseline, agents=["a"]).live
    narrowed = EvalContext(ch, window, Policy(), baseline, traces=["t"], read_from_ns=SECOND_NS // 2)
    assert narrowed.bounds["start_ns"] == SECOND_NS // 2


class PacedSweep(ErrorBurst):
    """Each full window takes 0.2 s of wall time."""

    name = "paced_sweep"
    default_slide_seconds = 5

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        time.sleep(0.2)
        return []


def test_sweep_keeps_to_its_duty_cycle(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 600)  # many windows due: the sweep would run without a break
    fleet.insert(ch)
    duty = settings.model_copy(update={"detector_sweep_thread": True, "detector_sweep_duty_cycle": 0.25})
    engine = threaded_engine_with(duty, ch, PacedSweep)
    try:
        engine.run_once()
        time.sleep(2.0)
    finally:
        engine.close()
    windows = [s for name, s in engine.sweeper.window_seconds if name == "paced_sweep"]
    # 0.2 s busy then 0.6 s rest: at most three windows in two seconds (ten without the rest).
    assert 1 <= len(windows) <= 3


class CheckedSweep(PacedSweep):
    """Records when each full window's Python work begins, after a checkpoint."""

    name = "checked_sweep"
    default_slide_seconds = 1  # windows enough to keep the sweep busy throughout
    began: list[float] = []

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        ctx.checkpoint()
        self.began.append(time.perf_counter())
        time.sleep(0.2)
        return []


def test_the_sweep_gives_way_while_a_tick_runs(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 600)  # many windows due: the sweep would run without a break
    fleet.insert(ch)
    threaded = settings.model_copy(update={"detector_sweep_thread": True, "detector_sweep_duty_cycle": 1.0})
    engine = threaded_engine_with(threaded, ch, CheckedSweep)
    CheckedSweep.began = []
    try:
        engine.run_once()
        time.sleep(0.5)  # the sweep is under way
        assert CheckedSweep.began
        with engine.sweeper.live_first.ticking():  # as a tick holds it
            held_from = time.perf_counter()
            time.sleep(1.0)
            held_to = time.perf_counter()
        time.sleep(0.3)
    finally:
        engine.close()
    during = [t for t in CheckedSweep.began if held_from + 0.05 < t < held_to]
    after = [t for t in CheckedSweep.began if t >= held_to]
    # Without the gate, about five windows would begin in that second; with it, none.
    assert during == []
    assert after
    assert engine.sweeper.live_first.waited_s >= 0.8
