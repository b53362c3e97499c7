"""The detector engine: a worker whose ``run_once`` evaluates every detector on new data.

Each call: find what was ingested since the cursor (IngestedAt, with an overlap), evaluate the
detectors that allow it early on just the traces that changed (detectors/early.py), move each
tenant's event-time watermark (newest span minus the allowed lateness), evaluate each detector
on the full windows that closed (the sweep, within a time budget per tick), turn findings into
alert rows (one alert per incident), then persist the cursors and baselines. Alerts are written
before cursors, so a crash re-evaluates rather than skips, and the incident tracker (loaded from
``alerts``) makes the re-evaluation write nothing twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from detectors.alerts import AlertRow, write_alerts
from detectors.base import SECOND_NS, Detector
from detectors.context import Baseline, EvalContext, QueryCache, ScratchBaseline
from detectors.coverage import CoverageMonitor
from detectors.early import TenantDirectories, allows_early, chunks, early_detectors
from detectors.fleet import FleetDirectory
from detectors.incidents import IncidentTracker
from detectors.model import Finding, Window
from detectors.policy import Policy, load_policy
from detectors.registry import DetectorRegistry
from detectors.scan import IngestScanner, NewData
from detectors.state import BaselineStore, CursorStore
from detectors.windows import align_down, plan_windows
from fleetwatch.config import Settings

log = logging.getLogger(__name__)
MAX_FAILURES = 3  # a window that fails this often is skipped (logged), not retried forever
EARLY_CHUNK = 5000  # trace ids per early query (bound the bound parameter)


class DetectorEngine:
    def __init__(
        self, settings: Settings, client: Client, registry: DetectorRegistry,
        policy: Policy | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.registry = registry
        self.policy = policy if policy is not None else load_policy(settings.policy_file)
        self.cursors = CursorStore(client)
        self.baselines = BaselineStore(client)
        self.incidents = IncidentTracker(int(settings.detector_update_interval_seconds * SECOND_NS))
        self.coverage = CoverageMonitor(client, registry, self.policy)
        self.scanner = IngestScanner(
            client, int(settings.detector_ingest_overlap_seconds * SECOND_NS),
            int(settings.detector_max_clock_skew_seconds * 1000),
        )
        self.early = early_detectors(registry)
        seed = max((d.window_ns for d in self.early), default=0)
        self.directories = TenantDirectories(client, self.policy, seed)
        self._early_delay = int(settings.detector_early_sweep_delay_seconds * SECOND_NS)
        self._late: dict[str, int] = {}
        self._swept = False  # has this tick evaluated a full window yet (progress over budget)
        self._failures: dict[tuple[str, str, int], int] = {}
        self._loaded = False

    def run_once(self) -> int:
        """Evaluate what is due; return the number of alert rows written."""
        if not self._loaded:
            self.cursors.load()
            self.incidents.load(self.client)
            self.coverage.load()
            self._loaded = True
        news = self._advance_watermarks()
        written = sum(self._evaluate_early(item) for item in news)
        deadline = time.monotonic() + self.settings.detector_sweep_budget_seconds
        self._swept = False
        for tenant in sorted(self.cursors.tenants("watermark")):
            written += self._evaluate_tenant(tenant, deadline)
        self.baselines.flush()
        self.cursors.flush()
        return written

    def drain(self, max_ticks: int = 10_000) -> int:
        """Run until every detector has caught up with every watermark (tests, evaluation)."""
        written = 0
        for _ in range(max_ticks):
            written += self.run_once()
            if not self.behind():
                break
        return written

    def behind(self) -> bool:
        """True while some detector has windows due that it has not evaluated yet."""
        for tenant in self.cursors.tenants("watermark"):
            watermark = self.cursors.get("watermark", tenant) or 0
            for detector in self.registry:
                position = self.cursors.get("evaluated", tenant, detector.name) or 0
                if position < align_down(self._sweep_watermark(detector, watermark), detector.slide_ns):
                    return True
        return False

    def _sweep_watermark(self, detector: Detector[Any], watermark: int) -> int:
        # Detectors that alert early can afford to close full windows later, so that spans of
        # long turns (stamped with their start, sent at their end) are rarely late for them.
        return watermark - self._early_delay if allows_early(detector) else watermark

    def _advance_watermarks(self) -> list[NewData]:
        cursor = self.cursors.get("ingest") or 0
        s = self.settings
        news, newest = self.scanner.scan(cursor)
        lateness = int(s.detector_allowed_lateness_seconds * SECOND_NS)
        horizon = int(s.detector_late_horizon_seconds * SECOND_NS)
        for item in news:
            previous = self.cursors.get("watermark", item.tenant)
            if previous is None:
                start = max(item.min_ns, item.max_ns - horizon)
                self.cursors.put(start, "origin", item.tenant)
                previous = start
            watermark = max(previous, item.max_ns - lateness)
            self.cursors.put(watermark, "watermark", item.tenant)
            late_from = max(item.min_ns, watermark - horizon)
            self._late[item.tenant] = min(self._late.get(item.tenant, late_from), late_from)
        if newest is not None:
            self.cursors.put(newest, "ingest")
        return news

    def _evaluate_early(self, item: NewData) -> int:
        """The early lane: detectors that allow it, on the traces that just changed."""
        if not self.early or not item.traces:
            return 0
        if len(item.traces) > self.settings.detector_early_max_traces:
            log.info("tenant %s: %d changed traces (a backlog); full windows only this tick",
                     item.tenant, len(item.traces))
            return 0
        end = item.max_ns + 1
        cache: QueryCache = {}
        directory = self.directories.update(item.tenant, end, item.traces, cache)
        rows: list[AlertRow] = []
        for traces in chunks(item.traces, EARLY_CHUNK):
            for detector in self.early:
                window = Window(item.tenant, end - detector.window_ns, end)
                baseline = ScratchBaseline(self.baselines, item.tenant, detector.name)
                ctx = EvalContext(self.client, window, self.policy, baseline, traces=traces,
                                  cache=cache, directory=directory)
                self._judge(detector, ctx, rows, retry=False)
        return write_alerts(self.client, rows)

    def _evaluate_tenant(self, tenant: str, deadline: float) -> int:
        watermark = self.cursors.get("watermark", tenant) or 0
        late_from = self._late.pop(tenant, None)
        written = 0
        directories: dict[tuple[str, int, int], FleetDirectory] = {}
        cache: QueryCache = {}
        # Most behind first, so a budget spent on one detector does not starve the others.
        order = sorted(self.registry, key=lambda d: self.cursors.get("evaluated", tenant, d.name) or 0)
        for detector in order:
            wm = self._sweep_watermark(detector, watermark)
            rows = self._evaluate(detector, tenant, wm, late_from, directories, cache, deadline)
            written += write_alerts(self.client, rows)
        written += write_alerts(self.client, self.coverage.check(tenant, watermark))
        return written

    def _evaluate(
        self, detector: Detector[Any], tenant: str, watermark: int, late_from: int | None,
        directories: dict[tuple[str, int, int], FleetDirectory], cache: QueryCache,
        deadline: float,
    ) -> list[AlertRow]:
        position = self.cursors.get("evaluated", tenant, detector.name)
        if position is None:
            origin = self.cursors.get("origin", tenant) or watermark
            position = align_down(origin, detector.slide_ns)
        plan = plan_windows(
            position, watermark, detector.window_ns, detector.slide_ns,
            self.settings.detector_max_windows_per_tick, late_from,
        )
        baseline = Baseline(self.baselines, tenant, detector.name)
        rows: list[AlertRow] = []
        for end in plan.ends:
            if self._swept and time.monotonic() > deadline:
                if late_from is not None and end <= position:
                    self._late[tenant] = min(self._late.get(tenant, late_from), late_from)
                return rows  # budget spent: the rest is due next tick (catching up if need be)
            window = Window(tenant, end - detector.window_ns, end)
            ctx = EvalContext(self.client, window, self.policy, baseline, directories, cache=cache)
            self._swept = True
            if not self._judge(detector, ctx, rows):
                return rows  # transient failure: keep the position, retry next tick
            if end > position:
                quiet = max(detector.resolve_after_ns, plan.step + 1)
                rows += self.incidents.resolve_stale(tenant, detector.name, end, quiet)
                self.cursors.put(end, "evaluated", tenant, detector.name)
        return rows

    def _judge(
        self, detector: Detector[Any], ctx: EvalContext, rows: list[AlertRow], retry: bool = True,
    ) -> bool:
        w = ctx.window
        try:
            candidates = detector.candidates(ctx)
        except ClickHouseError:
            if not retry:  # early evaluations are not retried: the sweep covers the window
                log.warning("detector %s failed early on tenant %s", detector.name, w.tenant,
                            exc_info=True)
                return True
            key = (w.tenant, detector.name, w.end_ns)
            self._failures[key] = self._failures.get(key, 0) + 1
            log.warning("detector %s failed on tenant %s; will retry", detector.name, w.tenant,
                        exc_info=True)
            return self._failures[key] >= MAX_FAILURES
        except Exception:
            log.exception("detector %s raised on tenant %s; window skipped", detector.name, w.tenant)
            return True
        for candidate in candidates:
            severity = detector.decide(candidate)
            if severity is not None:
                row = self.incidents.apply(Finding(detector.name, w, candidate, severity))
                if row is not None:
                    rows.append(row)
        return True
