"""One evaluation run: simulate a configuration into a database through the ingest path, let the
engine catch up, and score its alerts against the run's labels (``fleetwatch eval`` and the
``tests/test_eval_*.py`` floors use it).

A run is loaded whole before the engine drains, so the simulator sends big batches (fewer,
larger inserts: the detectors see exactly the same spans, the load is several times faster) and
the engine never skips the start of the run as "too late".
"""

from __future__ import annotations

from dataclasses import replace

from clickhouse_connect.driver.client import Client

from detectors.engine import DetectorEngine
from detectors.evaluation import Report, read_alerts
from detectors.policy import Policy
from detectors.registry import DetectorRegistry
from detectors.simulate import simulate_into
from fleetwatch.config import Settings
from simulator.run import RunResult, SimulationConfig

FLUSH_S, BATCH_SPANS = 600.0, 20_000


def bulk(config: SimulationConfig) -> SimulationConfig:
    """``config`` sent in big batches (same spans; other ids, as the run id includes batching)."""
    return replace(config, flush_interval_s=FLUSH_S, batch_spans=BATCH_SPANS)


def drain(settings: Settings, client: Client, registry: DetectorRegistry, policy: Policy) -> None:
    run_settings = settings.model_copy(update={"detector_late_horizon_seconds": 10.0**9})
    engine = DetectorEngine(run_settings, client, registry, policy)
    try:
        engine.drain()
    finally:
        engine.close()


def evaluate(settings: Settings, client: Client, config: SimulationConfig,
             registry: DetectorRegistry, policy: Policy, report: Report | None = None,
             ) -> tuple[Report, RunResult]:
    """Simulate ``config`` into ``client``'s (fresh) database, drain, and add it to ``report``."""
    result = simulate_into(client, config)
    drain(settings, client, registry, policy)
    report = report if report is not None else Report()
    report.add_run(result.summary, result.incidents, read_alerts(client))
    return report, result
