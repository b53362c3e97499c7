"""The detector engine: a worker whose ``run_once`` evaluates every detector on new data.

Each call: find what was ingested since the cursor (IngestedAt), move each tenant's event-time
watermark (newest span minus the allowed lateness), evaluate each detector on the windows that
closed, turn findings into alert rows (one alert per incident), then persist the cursors and
baselines. Alerts are written before cursors, so a crash re-evaluates rather than skips, and the
incident tracker (loaded from ``alerts``) makes the re-evaluation write nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from detectors.alerts import AlertRow, write_alerts
from detectors.base import SECOND_NS, Detector
from detectors.context import Baseline, EvalContext
from detectors.coverage import CoverageMonitor
from detectors.fleet import FleetDirectory
from detectors.incidents import IncidentTracker
from detectors.model import Finding, Window
from detectors.policy import Policy, load_policy
from detectors.registry import DetectorRegistry
from detectors.scan import scan_new_data
from detectors.state import BaselineStore, CursorStore
from detectors.windows import align_down, plan_windows
from fleetwatch.config import Settings

log = logging.getLogger(__name__)
MAX_FAILURES = 3  # a window that fails this often is skipped (logged), not retried forever


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
        self._late: dict[str, int] = {}
        self._failures: dict[tuple[str, str, int], int] = {}
        self._loaded = False

    def run_once(self) -> int:
        """Evaluate what is due; return the number of alert rows written."""
        if not self._loaded:
            self.cursors.load()
            self.incidents.load(self.client)
            self.coverage.load()
            self._loaded = True
        self._advance_watermarks()
        written = 0
        for tenant in sorted(self.cursors.tenants("watermark")):
            written += self._evaluate_tenant(tenant)
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
                if position < align_down(watermark, detector.slide_ns):
                    return True
        return False

    def _advance_watermarks(self) -> None:
        cursor = self.cursors.get("ingest") or 0
        s = self.settings
        news, newest = scan_new_data(self.client, cursor, int(s.detector_max_clock_skew_seconds * 1000))
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

    def _evaluate_tenant(self, tenant: str) -> int:
        watermark = self.cursors.get("watermark", tenant) or 0
        late_from = self._late.pop(tenant, None)
        written = 0
        directories: dict[tuple[str, int, int], FleetDirectory] = {}
        for detector in self.registry:
            rows = self._evaluate(detector, tenant, watermark, late_from, directories)
            written += write_alerts(self.client, rows)
        written += write_alerts(self.client, self.coverage.check(tenant, watermark))
        return written

    def _evaluate(
        self, detector: Detector[Any], tenant: str, watermark: int, late_from: int | None,
        directories: dict[tuple[str, int, int], FleetDirectory],
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
            window = Window(tenant, end - detector.window_ns, end)
            ctx = EvalContext(self.client, window, self.policy, baseline, directories)
            if not self._judge(detector, ctx, rows):
                return rows  # transient failure: keep the position, retry next tick
            if end > position:
                quiet = max(detector.resolve_after_ns, plan.step + 1)
                rows += self.incidents.resolve_stale(tenant, detector.name, end, quiet)
                self.cursors.put(end, "evaluated", tenant, detector.name)
        return rows

    def _judge(self, detector: Detector[Any], ctx: EvalContext, rows: list[AlertRow]) -> bool:
        w = ctx.window
        try:
            candidates = detector.candidates(ctx)
        except ClickHouseError:
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
