"""The detector engine end to end on real chDB: windows, incidents, restarts, tenants, lateness."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from collector.spans_table import SPAN_COLUMNS
from detectors.base import Detector, NoParams
from detectors.context import EvalContext
from detectors.engine import DetectorEngine
from detectors.model import Candidate, Evidence, Requirement
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.testing import SyntheticFleet
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings


class ErrorBurst(Detector[NoParams]):
    """A third-party style detector: five or more failed spans by one agent in a minute."""

    name = "error_burst"
    summary = "bursts of failed spans"
    requirements = (Requirement(("error.type",), "failure class"),)
    default_window_seconds = 60
    default_slide_seconds = 5
    default_threshold = 5

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        rows = ctx.rows(
            "SELECT AgentId, count(), groupArray(TraceId), groupArray(SpanId), "
            "min(toUnixTimestamp64Nano(Timestamp)) FROM otel_traces "
            "WHERE {window} AND StatusCode = 'STATUS_CODE_ERROR' GROUP BY AgentId"
        )
        return [
            Candidate(
                key=f"agent:{agent}", score=float(count), title=f"{agent}: {count} failures",
                explanation=f"{agent} failed {count} times", agents=(agent,),
                evidence=tuple(Evidence(t, s) for t, s in zip(traces, spans, strict=True)),
                first_event_ns=first,
            )
            for agent, count, traces, spans, first in rows
        ]


def inline(settings: Settings) -> Settings:
    """The sweep inside each tick: these tests assert what one ``run_once`` writes."""
    return settings.model_copy(update={"detector_sweep_thread": False})


def make_engine(settings: Settings, ch: Client) -> DetectorEngine:
    registry = DetectorRegistry()
    registry.register(ErrorBurst.from_policy(Policy()))
    return DetectorEngine(inline(settings), ch, registry, Policy())


def failures(fleet: SyntheticFleet, agent: str, start: float, count: int, every: float = 2.0) -> None:
    for i in range(count):
        trace = fleet.new_trace()
        fleet.tool(agent, "shell", start + i * every, trace, error=True, error__type="Boom")


def heartbeat(fleet: SyntheticFleet, agent: str, start: float, end: float, every: float = 5.0) -> None:
    t = start
    while t < end:
        fleet.chat(agent, t, fleet.new_trace())
        t += every


def alerts(ch: Client) -> list[dict[str, Any]]:
    result = ch.query(
        "SELECT AlertId, Version, Status, TenantId, Agents, Severity, EvidenceSpanIds, Detector "
        "FROM alerts ORDER BY TenantId, AlertId, Version"
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def test_nothing_new_writes_nothing(settings: Settings, ch: Client) -> None:
    engine = make_engine(settings, ch)
    assert engine.run_once() == 0
    assert engine.run_once() == 0


def test_one_alert_per_incident_then_resolved(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 60)
    failures(fleet, "ash", 30, 6)
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    assert engine.run_once() == 1
    assert engine.run_once() == 0  # nothing new: nothing written
    [row] = alerts(ch)
    assert row["Status"] == "firing" and row["Agents"] == ["ash"] and row["Version"] == 1
    # Quiet traffic for a few minutes: the burst leaves the window and the incident resolves.
    heartbeat(fleet, "ash", 60, 400)
    fleet.insert(ch)
    engine.drain()
    rows = alerts(ch)
    assert [(r["Version"], r["Status"]) for r in rows] == [(1, "firing"), (2, "resolved")]


def test_growing_incident_updates_its_alert(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 40)
    failures(fleet, "ash", 30, 6)
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    engine.run_once()
    # The burst continues for two more minutes: same incident, a new version, not a new alert.
    failures(fleet, "ash", 42, 60, every=2.0)
    heartbeat(fleet, "ash", 40, 170)
    fleet.insert(ch)
    engine.drain()
    rows = alerts(ch)
    assert len({r["AlertId"] for r in rows}) == 1
    assert max(r["Version"] for r in rows) >= 2
    assert all(r["Status"] == "firing" for r in rows)
    assert len(rows[-1]["EvidenceSpanIds"]) > len(rows[0]["EvidenceSpanIds"])


def test_restart_neither_repeats_nor_misses(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 60)
    failures(fleet, "ash", 30, 6)
    fleet.insert(ch)
    assert make_engine(settings, ch).run_once() == 1
    # A new engine (a restart) sees the same data: nothing new to say.
    assert make_engine(settings, ch).run_once() == 0
    # Crash before the cursors were saved: the same windows are re-evaluated, still no repeat.
    ch.command("TRUNCATE TABLE detector_cursors")
    assert make_engine(settings, ch).run_once() == 0
    # A second incident after the restart is found.
    restarted = make_engine(settings, ch)
    heartbeat(fleet, "flux", 0, 60)
    failures(fleet, "flux", 40, 6)
    fleet.insert(ch)
    assert restarted.run_once() == 1
    assert sorted(r["Agents"][0] for r in alerts(ch)) == ["ash", "flux"]


def test_tenants_never_mix(settings: Settings, ch: Client) -> None:
    acme, globex = SyntheticFleet(tenant="acme"), SyntheticFleet(tenant="globex")
    failures(acme, "ash", 10, 3)
    failures(globex, "ash", 10, 3)  # three each: only a mixed count would reach five
    heartbeat(acme, "ash", 0, 60)
    heartbeat(globex, "ash", 0, 60)
    failures(globex, "bob", 20, 5)
    acme.insert(ch)
    globex.insert(ch)
    make_engine(settings, ch).run_once()
    rows = alerts(ch)
    assert [(r["TenantId"], r["Agents"]) for r in rows if r["Severity"] != "info"] == [
        ("globex", ["bob"])
    ]


def test_late_spans_are_not_missed(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    engine.run_once()
    failures(fleet, "ash", 100, 6)  # arrives after its windows were judged
    fleet.insert(ch)
    assert engine.run_once() == 1


def test_catch_up_is_bounded_per_tick(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 7200, every=30)
    failures(fleet, "ash", 3600, 6)
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    ticks = 0
    while ticks == 0 or engine.behind():
        engine.run_once()
        ticks += 1
    assert ticks > 1  # two hours at half-window steps need several ticks of 64 windows
    assert [r["Status"] for r in alerts(ch) if r["Severity"] != "info"] == ["firing", "resolved"]


def test_missing_attributes_are_reported_once(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 1200, every=2)  # 600 spans, none with error.type
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    engine.drain()
    info = [r for r in alerts(ch) if r["Severity"] == "info"]
    assert [(r["Detector"], r["Status"]) for r in info] == [("error_burst", "firing")]
    status = ch.query("SELECT Status, Missing FROM detector_status FINAL").result_rows
    assert status == [("degraded", ["error.type"])]
    # A restarted engine does not say it again; once the attribute appears, it resolves.
    restarted = make_engine(settings, ch)
    heartbeat(fleet, "ash", 1200, 1800, every=2)
    failures(fleet, "ash", 1500, 2)
    fleet.insert(ch)
    restarted.drain()
    info = [r for r in alerts(ch) if r["Severity"] == "info"]
    assert [r["Status"] for r in info] == ["firing", "resolved"]


# --- live latency: early evaluation, out-of-order commits, sweep budget ---------------------


class TraceFailures(ErrorBurst):
    """Failures counted per trace, so it may be evaluated early on just the changed traces."""

    name = "trace_failures"
    early_by_trace = True
    default_threshold = 3

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        ctx.baseline.put("last_end", ctx.window.end_ns)
        rows = ctx.rows(
            "SELECT TraceId, any(AgentId), count(), groupArray(SpanId), "
            "min(toUnixTimestamp64Nano(Timestamp)) FROM otel_traces "
            "WHERE {window} AND StatusCode = 'STATUS_CODE_ERROR' GROUP BY TraceId"
        )
        return [
            Candidate(key=f"trace:{trace}", score=float(count), title=f"{agent}: {count} failures",
                      explanation="", agents=(agent,),
                      evidence=tuple(Evidence(trace, s) for s in spans), first_event_ns=first)
            for trace, agent, count, spans, first in rows
        ]


def early_engine(settings: Settings, ch: Client) -> DetectorEngine:
    registry = DetectorRegistry()
    registry.register(TraceFailures.from_policy(Policy()))
    return DetectorEngine(inline(settings), ch, registry, Policy())


def failing_trace(fleet: SyntheticFleet, agent: str, at: float, count: int) -> str:
    trace = fleet.new_trace()
    for i in range(count):
        fleet.tool(agent, "shell", at + i * 0.1, trace, error=True, error__type="Boom")
    return trace


def test_early_lane_alerts_before_the_window_closes_and_only_once(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    engine = early_engine(settings, ch)
    engine.run_once()
    # The incident is the newest data: no full window containing it has closed yet.
    failing_trace(fleet, "ash", 300, 4)
    fleet.insert(ch)
    assert engine.run_once() == 1
    position = engine.cursors.get("evaluated", "default", "trace_failures") or 0
    assert position < fleet.origin_ns + 300 * 1_000_000_000
    # Only full windows teach the baseline: the early evaluation's write stayed scratch.
    assert engine.baselines.view("default", "trace_failures")["last_end"] == position
    # The full windows catch up later and recognise the incident: no second alert.
    heartbeat(fleet, "ash", 300, 600)
    fleet.insert(ch)
    engine.drain()
    rows = [r for r in alerts(ch) if r["Severity"] != "info"]
    assert len({r["AlertId"] for r in rows}) == 1 and rows[0]["Version"] == 1


def test_early_lane_sees_only_changed_traces(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    failing_trace(fleet, "ash", 100, 2)  # below the threshold, judged already
    fleet.insert(ch)
    engine = early_engine(settings, ch)
    engine.run_once()
    failing_trace(fleet, "flux", 299, 2)  # another trace, also below: nothing to say
    fleet.insert(ch)
    assert engine.run_once() == 0


def test_a_commit_stamped_before_the_cursor_is_not_missed(settings: Settings, ch: Client) -> None:
    """Two inserts racing: the later-stamped one commits first, the scan moves past it, then
    the earlier-stamped one lands behind the cursor (inside the scan's overlap)."""
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    engine = make_engine(settings, ch)
    engine.run_once()
    cursor = engine.cursors.get("ingest") or 0
    late = SyntheticFleet(_ids=itertools.count(10_000))  # trace ids of its own
    failures(late, "ash", 250, 6)
    stage = f"{settings.clickhouse_database}_stage"
    staged = connect(settings, database=stage)
    migrate(staged)
    late.insert(staged)
    columns = ", ".join(f"`{c}`" for c in SPAN_COLUMNS)
    ch.command(
        f"INSERT INTO otel_traces ({columns}, IngestedAt) SELECT {columns}, "
        f"fromUnixTimestamp64Nano({cursor}) - toIntervalMillisecond(500) FROM `{stage}`.otel_traces"
    )
    ch.command(f"DROP DATABASE `{stage}`")
    assert engine.run_once() == 1
    assert engine.run_once() == 0  # re-read in the overlap, but not new again


def test_sweep_budget_splits_catch_up_over_ticks_and_still_finds(settings: Settings, ch: Client) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 1800, every=30)
    failures(fleet, "ash", 900, 6)
    fleet.insert(ch)
    engine = make_engine(settings.model_copy(update={"detector_sweep_budget_seconds": 1e-6}), ch)
    engine.run_once()
    first = engine.cursors.get("evaluated", "default", "error_burst") or 0
    engine.run_once()
    assert (engine.cursors.get("evaluated", "default", "error_burst") or 0) > first  # progress
    engine.drain()
    assert [r["Status"] for r in alerts(ch) if r["Severity"] != "info"] == ["firing", "resolved"]


class SlowSweep(ErrorBurst):
    """A detector whose full window takes long (as false_completion's did, 14 s): it blocks
    until the test releases it, so the test knows a sweep is under way."""

    name = "slow_sweep"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.entered, self.release = threading.Event(), threading.Event()

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        self.entered.set()
        self.release.wait(timeout=30)
        return super().candidates(ctx)


def test_early_lane_ticks_while_a_slow_full_window_runs_on_the_sweep_thread(
    settings: Settings, ch: Client,
) -> None:
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    registry = DetectorRegistry()
    registry.register(TraceFailures.from_policy(Policy()))
    slow = SlowSweep.from_policy(Policy())
    assert isinstance(slow, SlowSweep)
    registry.register(slow)
    engine = DetectorEngine(settings.model_copy(update={"detector_sweep_thread": True}), ch,
                            registry, Policy())
    try:
        engine.run_once()
        assert slow.entered.wait(timeout=30)  # the sweep thread is inside the slow window
        failing_trace(fleet, "ash", 300, 4)
        fleet.insert(ch)
        began = time.monotonic()
        assert engine.run_once() == 1  # the early lane alerts although the sweep is busy
        assert time.monotonic() - began < 10
        slow.release.set()
        heartbeat(fleet, "ash", 300, 600)
        fleet.insert(ch)
        engine.run_once()
        deadline = time.monotonic() + 60
        while engine.behind() and time.monotonic() < deadline:
            time.sleep(0.2)
            engine.run_once()
        assert not engine.behind()
    finally:
        engine.close()
    # The sweep's full windows recognised the early incident: one alert, written once.
    rows = [r for r in alerts(ch) if r["Severity"] != "info" and r["Detector"] == "trace_failures"]
    assert len({r["AlertId"] for r in rows}) == 1 and rows[0]["Version"] == 1
    assert (engine.cursors.get("evaluated", "default", "slow_sweep") or 0) > fleet.origin_ns


class ErrorBurstToo(ErrorBurst):
    name = "error_burst_too"


def test_late_windows_do_not_hold_the_sweep(settings: Settings, ch: Client) -> None:
    """A window's worth of budget per pass, and late spans behind two detectors' positions:
    each re-evaluates its late windows once, in turn, and both catch up with the watermark
    (the late windows used to be planned afresh each pass, the first detector's first late
    window evaluated pass after pass while the other waited)."""
    fleet = SyntheticFleet()
    heartbeat(fleet, "ash", 0, 300)
    fleet.insert(ch)
    registry = DetectorRegistry()
    registry.register(ErrorBurst.from_policy(Policy()))
    registry.register(ErrorBurstToo.from_policy(Policy()))
    tight = inline(settings).model_copy(update={"detector_sweep_budget_seconds": 1e-6})
    engine = DetectorEngine(tight, ch, registry, Policy())
    engine.drain()
    failures(fleet, "ash", 100, 6)  # late: both detectors judged those windows already
    heartbeat(fleet, "ash", 300, 330)
    fleet.insert(ch)
    for _ in range(40):
        engine.run_once()
    assert not engine.behind()
    firing = [r["Detector"] for r in alerts(ch) if r["Status"] == "firing"]
    assert sorted(firing) == ["error_burst", "error_burst_too"]
