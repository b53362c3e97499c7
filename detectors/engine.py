"""The detector engine: a worker whose ``run_once`` evaluates every detector on new data.

Each tick: find what was ingested since the cursor (IngestedAt, with an overlap), top up the
span tail, move each tenant's event-time watermark (newest span minus the allowed lateness),
evaluate the detectors that allow it live on the part of their window the new spans changed (the
traces, or a few agents; detectors/early.py), then evaluate each detector on the full windows
that closed (the sweep, detectors/sweep.py). By default the sweep runs on its own thread and
client, so a full window that takes seconds never holds up the early lane; with
``detector_sweep_thread`` off (and always in ``drain``) it runs inside the tick, within a time
budget. Findings become alert rows (one alert per incident); cursors and baselines are
persisted after the alerts, so a crash re-evaluates rather than skips, and the incident tracker
(loaded from ``alerts``) makes the re-evaluation write nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.base import SECOND_NS, Detector
from detectors.builtin.frames import SHARED, rows_sql
from detectors.coverage import CoverageMonitor
from detectors.early import LiveLane
from detectors.engine_state import EngineState
from detectors.policy import Policy, load_policy
from detectors.registry import DetectorRegistry
from detectors.scan import IngestScanner, NewData
from detectors.sweep import Sweeper
from detectors.tail import SpanTail
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings

log = logging.getLogger(__name__)
TAIL_MARGIN_NS = 60 * SECOND_NS  # the tail keeps this much past the longest window's reach


def span_tail(settings: Settings, registry: DetectorRegistry) -> SpanTail | None:
    """The span tail for ``registry`` (None when ``detector_tail_max_mb`` is 0): it keeps what
    the longest window reaches back to, full windows closing late included."""
    if settings.detector_tail_max_mb == 0:
        return None
    longest = max((d.window_ns for d in registry), default=0)
    reach = settings.detector_early_sweep_delay_seconds + settings.detector_allowed_lateness_seconds
    return SpanTail(SHARED, rows_sql(SHARED), longest + int(reach * SECOND_NS) + TAIL_MARGIN_NS,
                    settings.detector_tail_max_mb * 2**20,
                    int((settings.detector_sweep_slice_seconds or 30.0) * SECOND_NS),
                    int(settings.detector_ingest_overlap_seconds * SECOND_NS))


class DetectorEngine:
    def __init__(
        self, settings: Settings, client: Client, registry: DetectorRegistry,
        policy: Policy | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.registry = registry
        self.policy = policy if policy is not None else load_policy(settings.policy_file)
        self.state = EngineState.for_client(
            client, int(settings.detector_update_interval_seconds * SECOND_NS))
        self.cursors, self.baselines = self.state.cursors, self.state.baselines
        self.incidents = self.state.incidents
        self.coverage = CoverageMonitor(registry, self.policy)
        self.scanner = IngestScanner(
            client, int(settings.detector_ingest_overlap_seconds * SECOND_NS),
            int(settings.detector_max_clock_skew_seconds * 1000),
        )
        self.tail = span_tail(settings, registry)
        self.live = LiveLane(client, registry, self.policy, self.state,
                             settings.detector_early_max_traces, settings.detector_live_max_agents,
                             settings.detector_live_settle_seconds, self.tail)
        self._early_delay = int(settings.detector_early_sweep_delay_seconds * SECOND_NS)
        self.sweeper = Sweeper(self.state, registry, self.policy, self._sweep_watermark,
                               settings.detector_max_windows_per_tick,
                               int(settings.detector_sweep_slice_seconds * SECOND_NS), self.tail,
                               coverage=self.coverage)
        self._loaded = False
        self.tick_phases: deque[tuple[float, float]] = deque(maxlen=10_000)  # scan, live lane (s)
        self.tail_seconds: deque[float] = deque(maxlen=10_000)  # the span tail's update per tick

    def run_once(self) -> int:
        """Evaluate what is due; return the number of alert rows this call wrote (with the sweep
        on its own thread, its alerts are written there and not counted here)."""
        threaded = self.settings.detector_sweep_thread
        if threaded:
            if self.settings.detector_live_agents_thread:
                self.live.agent_lane.start(self._lane_client)
            with self.sweeper.live_first.ticking():
                written = self._tick(sweep_inline=False)
        else:
            written = self._tick(sweep_inline=True)
        if threaded:
            self.sweeper.start(self._sweep_client, self.settings.detector_sweep_budget_seconds,
                               self.settings.detector_sweep_duty_cycle)
            self.sweeper.poke()
        return written

    def _sweep_client(self) -> Client:
        # One query thread: the sweep then uses at most one core of ClickHouse's, and the tick
        # (ingest scan, early lane) is not starved of the other by a long full window.
        client = connect(self.settings)
        client.set_client_setting("max_threads", "1")
        return client

    def _lane_client(self) -> Client:
        return connect(self.settings)

    def drain(self, max_ticks: int = 10_000) -> int:
        """Run until every detector has caught up with every watermark (tests, evaluation),
        sweeping inside the calls whatever the setting."""
        written = 0
        for _ in range(max_ticks):
            written += self._tick(sweep_inline=True)
            if not self.behind():
                break
        return written

    def close(self) -> None:
        """Stop the sweep and agent threads (if they run); the engine may be ticked again
        afterwards."""
        self.live.agent_lane.stop()
        self.sweeper.stop()

    def behind(self) -> bool:
        """True while some detector has windows due that it has not evaluated yet."""
        return self.state.behind(self.registry, self._sweep_watermark)

    def status(self) -> dict[str, object]:
        """For the service's /status: the last tick's phases, the live lane's backlogs and
        dropped traces, and the span tail (how much it holds, how far back, reads it answered)."""
        scan, live = self.tick_phases[-1] if self.tick_phases else (0.0, 0.0)
        found: dict[str, object] = {
            "last_tick_seconds": {"scan": round(scan, 3), "live": round(live, 3),
                                  "tail": round(self.tail_seconds[-1], 3) if self.tail_seconds else 0.0},
            "live_backlog_ticks": len(self.live.backlogs),
            "live_settle_dropped": self.live.settling.dropped,
            "live_agent_jobs_dropped": self.live.agent_lane.dropped,
        }
        if self.tail is not None:
            tail = self.tail.status()
            covered, newest = tail.pop("covered_from_ns"), tail.pop("newest_ns")
            held = None if covered is None else round(max(0, newest - covered) / SECOND_NS, 1)
            tail["holds_seconds"] = held
            found["span_tail"] = tail
        return found

    def _tick(self, sweep_inline: bool) -> int:
        # The lock only around shared state: a sweep thread may be applying findings meanwhile.
        # Queries here use this engine's client, which no other thread touches.
        lock = self.state.lock
        with lock:
            if not self._loaded:
                self.cursors.load()
                self.incidents.load(self.client)
                self.coverage.load(self.client)
                self._loaded = True
            cursor = self.cursors.get("ingest") or 0
        began = time.perf_counter()
        news, newest = self.scanner.scan(cursor)
        scanned = time.perf_counter()
        self._update_tail(news, cursor)
        with lock:
            self._advance_watermarks(news, newest)
        live_began = time.perf_counter()
        agents_inline = sweep_inline or not self.settings.detector_live_agents_thread
        written = self.live.evaluate_all(news, cursor, newest, agents_inline, self.scanner.read_at)
        self.tick_phases.append((scanned - began, time.perf_counter() - live_began))
        if sweep_inline:
            deadline = time.monotonic() + self.settings.detector_sweep_budget_seconds
            written += self.sweeper.run_pass(self.client, deadline)
        with lock:
            self.baselines.flush()
            self.cursors.flush()
        return written

    def _update_tail(self, news: list[NewData], cursor: int) -> None:
        if self.tail is None:
            return
        began = time.perf_counter()
        try:
            self.tail.update(self.client, self.scanner.since, max((n.max_ns for n in news), default=0),
                             cursor, self.scanner.late)
        except Exception:
            # A lost update leaves a gap the tail cannot see: start it over (it seeds again),
            # and let the tick fail as a failed scan would.
            log.warning("span tail update failed; the tail starts over", exc_info=True)
            self.tail.reset()
            raise
        self.tail_seconds.append(time.perf_counter() - began)

    def _sweep_watermark(self, detector: Detector[Any], watermark: int) -> int:
        # Detectors that alert early can afford to close full windows later, so that spans of
        # long turns (stamped with their start, sent at their end) are rarely late for them.
        return watermark - self._early_delay if detector.allows_early else watermark

    def _advance_watermarks(self, news: list[NewData], newest: int | None) -> None:
        s = self.settings
        lateness = int(s.detector_allowed_lateness_seconds * SECOND_NS)
        horizon = int(s.detector_late_horizon_seconds * SECOND_NS)
        late = self.state.late
        for item in news:
            previous = self.cursors.get("watermark", item.tenant)
            if previous is None:
                start = max(item.min_ns, item.max_ns - horizon)
                self.cursors.put(start, "origin", item.tenant)
                previous = start
            watermark = max(previous, item.max_ns - lateness)
            self.cursors.put(watermark, "watermark", item.tenant)
            late_from = max(item.min_ns, watermark - horizon)
            late[item.tenant] = min(late.get(item.tenant, late_from), late_from)
        if newest is not None:
            self.cursors.put(newest, "ingest")
