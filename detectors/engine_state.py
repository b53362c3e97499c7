"""What the engine's early lane and its sweep share: cursors, baselines, open incidents, the
spans that arrived late per tenant, and the one lock that guards them all.

The early lane holds the lock for its whole tick (it uses the engine's own client throughout);
the sweep, when it runs on its own thread, takes it only around reading and writing this state,
never while a detector's queries run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.base import Detector
from detectors.incidents import IncidentTracker
from detectors.registry import DetectorRegistry
from detectors.state import BaselineStore, CursorStore
from detectors.windows import align_down


@dataclass
class EngineState:
    cursors: CursorStore
    baselines: BaselineStore
    incidents: IncidentTracker
    late: dict[str, int] = field(default_factory=dict)  # tenant -> earliest late span (ns)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def for_client(cls, client: Client, update_interval_ns: int) -> EngineState:
        return cls(CursorStore(client), BaselineStore(client), IncidentTracker(update_interval_ns))

    def behind(self, registry: DetectorRegistry,
               sweep_watermark: Callable[[Detector[Any], int], int]) -> bool:
        """True while some detector has full windows due that it has not evaluated yet."""
        with self.lock:
            for tenant in self.cursors.tenants("watermark"):
                watermark = self.cursors.get("watermark", tenant) or 0
                for detector in registry:
                    due = align_down(sweep_watermark(detector, watermark), detector.slide_ns)
                    if self.position(tenant, detector, watermark) < due:
                        return True
        return False

    def position(self, tenant: str, detector: Detector[Any], watermark: int) -> int:
        """The end of the detector's last full window; before its first, the tenant's origin
        (``watermark`` if none), aligned to its slide. Call with ``lock`` held."""
        position = self.cursors.get("evaluated", tenant, detector.name)
        if position is None:
            origin = self.cursors.get("origin", tenant) or watermark
            position = align_down(origin, detector.slide_ns)
        return int(position)
