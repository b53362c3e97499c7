"""The sweep: every detector on the full windows that closed, the completeness guarantee.

A full-window evaluation of an expensive detector can take seconds; run on the engine's tick it
would hold up the early lane (live alerts) by as long. So the engine may run the sweep on its own
thread and ClickHouse client (``Sweeper.start``): the detector's queries and logic run unlocked,
and only what touches shared state - reading the cursors and the plan, the incident tracker,
writing alerts, advancing the cursor, committing baseline changes - runs under the engine's lock.
Baselines are staged per window (a copy read, changes kept aside, committed with the window's
alerts), so the early lane never sees a document half-way through a change. On the thread, the
sweep may also be held to a duty cycle (``duty``: after a window that took t seconds it rests
t * (1 - duty) / duty), so its Python and polars work cannot hold the GIL and a core for long
stretches while the tick (the live alerts) waits: the full windows fall behind instead.
On the thread the sweep also reads each full window in time slices (``slice_ns``,
detectors/slices.py) and rests between them by the same duty cycle (the chDB of sessions 3-4 ran
one query at a time per process, and a live query waited behind a whole window's read), and it
gives way to a running tick at every checkpoint (detectors/live_first.py). Inline (``drain``)
there is nothing to wait for it, so windows are read whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from detectors.alerts import AlertRow, write_alerts
from detectors.base import Detector
from detectors.context import EvalContext, QueryCache, ScratchBaseline
from detectors.coverage import CoverageMonitor
from detectors.engine_state import EngineState
from detectors.fleet import FleetDirectory
from detectors.live_first import LiveFirst
from detectors.model import Finding, Window
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.slices import MIN_PAUSE_S, Slicing
from detectors.tail import SpanTail
from detectors.windows import plan_windows

log = logging.getLogger(__name__)
MAX_FAILURES = 3  # a window that fails this often is skipped (logged), not retried forever
IDLE_WAIT_S = 1.0  # a sweeper with nothing due looks again after this (or when poked)


class StagedBaseline(ScratchBaseline):
    """A full window's baseline: a private copy during the evaluation, committed with its alerts."""

    def commit(self) -> None:
        for key, value in self._changes.items():
            super(ScratchBaseline, self).put(key, value)
        self._changes.clear()


def decided(detector: Detector[Any], ctx: EvalContext) -> list[Finding]:
    """The detector's candidates on ``ctx`` that its decision reports (may raise)."""
    found = []
    for candidate in detector.candidates(ctx):
        severity = detector.decide(candidate)
        if severity is not None:
            found.append(Finding(detector.name, ctx.window, candidate, severity))
    return found


class Sweeper:
    """Full windows per tenant and detector, within a time budget per pass, most behind first."""

    def __init__(
        self, state: EngineState, registry: DetectorRegistry, policy: Policy,
        sweep_watermark: Callable[[Detector[Any], int], int], max_windows: int,
        slice_ns: int = 0, tail: SpanTail | None = None, live_first: LiveFirst | None = None,
        coverage: CoverageMonitor | None = None,
    ) -> None:
        self.state, self.registry, self.policy = state, registry, policy
        self._coverage = coverage  # checked once per tenant and pass, before its windows
        self._sweep_watermark, self._max_windows = sweep_watermark, max_windows
        self._failures: dict[tuple[str, str, int], int] = {}
        self._late: dict[tuple[str, str], int] = {}  # (tenant, detector) -> late spans from
        self._served: dict[tuple[str, str], int] = {}  # (tenant, detector) -> pass of its last window
        self._passes = 0
        self._pass_lock = threading.Lock()  # one pass at a time (thread and drain never overlap)
        self._thread: threading.Thread | None = None
        self._poke, self._stop = threading.Event(), threading.Event()
        self._progressed = False  # has this pass evaluated a window yet (progress over budget)
        self._duty = 1.0  # share of wall time the thread may spend evaluating (set by start)
        self._slice_ns = slice_ns  # event time per full-window query on the thread (0: whole)
        self._tail = tail  # the span tail: seeded here, read by every full window it holds
        self._rested_for = 0.0  # work already rested for during the current window (slices)
        self.live_first = live_first if live_first is not None else LiveFirst()
        self.pass_seconds: deque[float] = deque(maxlen=10_000)  # wall time of recent passes
        self.window_seconds: deque[tuple[str, float]] = deque(maxlen=10_000)  # detector, wall
        self.thread_id: int | None = None  # native id of the sweep thread (CPU accounting)

    # -- the background thread -------------------------------------------------------------

    def start(self, connect: Callable[[], Client], budget_s: float, duty: float = 1.0) -> None:
        if self._thread is None:
            self._stop.clear()  # started again after a stop (the engine may be ticked again)
            self._duty = min(1.0, max(0.05, duty))
            self._thread = threading.Thread(
                target=self._loop, args=(connect, budget_s), name="detector-sweep", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """New data arrived: look for due windows now rather than after the idle wait."""
        self._poke.set()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def _loop(self, connect: Callable[[], Client], budget_s: float) -> None:
        self.thread_id = threading.get_native_id()
        client = connect()
        while not self._stop.is_set():
            try:
                self.run_pass(client, time.monotonic() + budget_s)
                if self.state.behind(self.registry, self._sweep_watermark):
                    continue
            except Exception:  # noqa: BLE001 - the sweep must outlive a bad pass; logged
                log.exception("detector sweep pass failed; retrying")
            self._poke.wait(IDLE_WAIT_S)
            self._poke.clear()

    # -- one pass --------------------------------------------------------------------------

    def run_pass(self, client: Client, deadline: float) -> int:
        """Evaluate due full windows of every tenant until ``deadline`` (at least one window)."""
        with self._pass_lock:
            began = time.perf_counter()
            self._progressed = False
            self._passes += 1
            self._seed_tail(client)
            with self.state.lock:
                tenants = sorted(self.state.cursors.tenants("watermark"))
            written = sum(self._sweep_tenant(client, tenant, deadline) for tenant in tenants)
            self.pass_seconds.append(time.perf_counter() - began)
            return written

    def _sweep_tenant(self, client: Client, tenant: str, deadline: float) -> int:
        state = self.state
        with state.lock:
            late_from = state.late.pop(tenant, None)
            evaluated = {d.name: state.cursors.get("evaluated", tenant, d.name) or 0 for d in self.registry}
        if late_from is not None:
            self._note_late(tenant, late_from)
        directories: dict[tuple[str, int, int], FleetDirectory] = {}
        cache: QueryCache = {}
        # The detector served longest ago first, then the most behind, so a budget spent on one
        # detector (a slow window, late windows that do not move its position) does not starve
        # the others pass after pass.
        written = self._check_coverage(client, tenant)
        served = self._served
        for detector in sorted(self.registry,
                               key=lambda d: (served.get((tenant, d.name), -1), evaluated[d.name])):
            written += self._sweep_detector(client, detector, tenant, directories, cache, deadline)
        return written

    def _check_coverage(self, client: Client, tenant: str) -> int:
        """Info rows written for detectors that cannot see what they need (detectors/coverage.py)."""
        if self._coverage is None:
            return 0
        with self.state.lock:
            watermark = self.state.cursors.get("watermark", tenant) or 0
        rows = self._coverage.check(client, tenant, watermark)
        with self.state.lock:
            return write_alerts(client, rows)

    def _note_late(self, tenant: str, late_from: int) -> None:
        """Late spans from ``late_from`` on: each detector the live lane does not judge will
        re-evaluate the windows holding them. A detector evaluated live judged their traces (or
        its agents' windows) when they arrived, and its full windows close
        ``detector_early_sweep_delay_seconds`` late besides; at 10,000 spans/s some span is
        always late (long turns are stamped with their start), and re-evaluating for them held
        the sweep on one detector's oldest late window pass after pass."""
        for detector in self.registry:
            if not detector.allows_early:
                self._note_late_for(tenant, detector, late_from)

    def _sweep_detector(
        self, client: Client, detector: Detector[Any], tenant: str,
        directories: dict[tuple[str, int, int], FleetDirectory], cache: QueryCache,
        deadline: float,
    ) -> int:
        state = self.state
        with state.lock:
            watermark = self._sweep_watermark(detector, state.cursors.get("watermark", tenant) or 0)
            position = state.position(tenant, detector, watermark)
        late_from = self._late.pop((tenant, detector.name), None)
        plan = plan_windows(position, watermark, detector.window_ns, detector.slide_ns,
                            self._max_windows, late_from)
        written = 0
        for end in plan.ends:
            if (self._stop.is_set() and self._on_thread()) or (
                    self._progressed and time.monotonic() > deadline):
                # Stopping, or the budget is spent: the rest is due next pass (catching up if
                # need be), late windows from the one not yet evaluated on.
                if late_from is not None and end <= position:
                    self._note_late_for(tenant, detector, late_from)
                return written
            window = Window(tenant, end - detector.window_ns, end)
            baseline = StagedBaseline(state.baselines, tenant, detector.name, state.lock, client)
            ctx = EvalContext(client, window, self.policy, baseline, directories, cache=cache,
                              slicing=self._slicing(), tail=self._tail, give_way=self._give_way())
            ctx.checkpoint()
            self._progressed = True
            self._served[(tenant, detector.name)] = self._passes
            began, self._rested_for = time.perf_counter(), 0.0
            findings = self._findings(detector, ctx)
            took = time.perf_counter() - began
            log.debug("full window of %s on %s ending %d: %.2f s", detector.name, tenant, end, took)
            self.window_seconds.append((detector.name, took))
            self._rest(max(0.0, took - self._rested_for))
            if findings is None:  # transient failure: keep the position, retry next pass
                if late_from is not None and end <= position:
                    self._note_late_for(tenant, detector, late_from)
                return written
            if late_from is not None and end <= position:
                late_from = end  # the late spans before ``end`` are judged
            with state.lock:
                rows: list[AlertRow] = [r for f in findings if (r := state.incidents.apply(f)) is not None]
                if end > position:
                    quiet = max(detector.resolve_after_ns, plan.step + 1)
                    rows += state.incidents.resolve_stale(tenant, detector.name, end, quiet)
                written += write_alerts(client, rows)  # alerts before cursors: a crash re-evaluates
                baseline.commit()
                if end > position:
                    state.cursors.put(end, "evaluated", tenant, detector.name)
        return written

    def _note_late_for(self, tenant: str, detector: Detector[Any], late_from: int) -> None:
        key = (tenant, detector.name)
        self._late[key] = min(self._late.get(key, late_from), late_from)

    def _seed_tail(self, client: Client) -> None:
        """Seed the span tail before sweeping: windows it holds then need no full-window reads.
        Each slice is rested for as a full window's slice is."""
        if self._tail is None:
            return
        while not self._stop.is_set():
            began = time.perf_counter()
            if not self._tail.seed_step(client):
                return
            if self._on_thread():
                self._between_slices(time.perf_counter() - began)

    def _on_thread(self) -> bool:
        return threading.get_native_id() == self.thread_id

    def _rest(self, took: float) -> None:
        """On the thread, keep to the duty cycle (woken early only by ``stop``)."""
        if self._duty < 1.0 and self._on_thread():
            self._stop.wait(took * (1.0 - self._duty) / self._duty)

    def _give_way(self) -> Callable[[], None] | None:
        """On the thread, the live tick goes first at the window's checkpoints; inline (``drain``)
        the sweep runs inside the tick, so there is nothing to give way to."""
        return self.live_first.give_way if self._on_thread() else None

    def _slicing(self) -> Slicing | None:
        return Slicing(self._slice_ns, self._between_slices) if self._slice_ns and self._on_thread() else None

    def _between_slices(self, worked: float) -> None:
        """Rest for a slice's work now rather than after the window, and at least a moment, so
        a live query waiting for the engine gets it before the next slice."""
        self._rested_for += worked
        log.debug("full-window slice: %.2f s", worked)
        self._stop.wait(max(MIN_PAUSE_S, worked * (1.0 - self._duty) / self._duty))
        self.live_first.give_way()

    def _findings(self, detector: Detector[Any], ctx: EvalContext) -> list[Finding] | None:
        """The window's findings; None for a transient failure worth retrying."""
        w = ctx.window
        try:
            return decided(detector, ctx)
        except ClickHouseError:
            key = (w.tenant, detector.name, w.end_ns)
            self._failures[key] = self._failures.get(key, 0) + 1
            log.warning("detector %s failed on tenant %s; will retry", detector.name, w.tenant,
                        exc_info=True)
            return [] if self._failures[key] >= MAX_FAILURES else None
        except Exception:
            log.exception("detector %s raised on tenant %s; window skipped", detector.name, w.tenant)
            return []
