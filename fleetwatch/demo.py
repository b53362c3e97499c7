"""``fleetwatch demo``: the embedded service, a simulated fleet with incidents, alerts as they fire.

Everything runs in this one process (chDB allows one process per data directory): the service
on its background event loop, the simulator sending OTLP to it through the stock exporter, and
this loop watching the alerts table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.client import Client

from fleetwatch.config import Settings
from fleetwatch.service import DETECTORS, RECEIVER, run_in_background

# Cases with a detector watching for them, spread over the simulated run (minutes from start).
DEMO_SCENARIOS = ("cs2:at=300", "cs4:at=720", "cs8:at=1200", "cs1:at=1680", "cs11:at=2100")
DEMO_SECONDS = 2700.0

_NEW_ALERTS = """
SELECT AlertId, Detector, Severity, Agents, Principals, Title
FROM alerts
WHERE Version = 1 AND Severity != 'info' AND AlertId NOT IN {seen:Array(String)}
ORDER BY FirstSeen
"""


@dataclass
class DemoReport:
    spans: int = 0
    incidents: list[str] = field(default_factory=list)
    alerts: list[tuple[str, str, str]] = field(default_factory=list)  # detector, severity, title


def run_demo(settings: Settings, out: Callable[[str], None] = print,
             wait_seconds: float = 90.0, quiet_seconds: float = 20.0) -> DemoReport:
    from simulator import SimulationConfig, parse_spec, run_simulation

    report = DemoReport()
    with run_in_background(settings, {RECEIVER, DETECTORS}) as service:
        out(f"fleetwatch is up: OTLP/HTTP {service.endpoints()['otlp_http']}, "
            f"status {service.endpoints()['admin']}")
        # The run ends now: detectors see a completed past, as if the fleet had been running.
        start_ns = time.time_ns() - int((DEMO_SECONDS + 60) * 1e9)
        config = SimulationConfig(seed=2026, agents=6, market_agents=0, duration_s=DEMO_SECONDS,
                                  start_ns=start_ns, scenarios=tuple(parse_spec(s) for s in DEMO_SCENARIOS))
        minutes = DEMO_SECONDS / 60
        out(f"simulating {len(config.plans())} incidents in {minutes:.0f} minutes of fleet activity ...")
        result = run_simulation(config, endpoint=service.endpoints()["otlp_http"],
                                labels_path=settings.data_dir / "demo.labels.jsonl")
        report.spans = result.spans
        report.incidents = [f"{label.case} {label.kind}" for label in result.incidents]
        out(f"sent {result.spans} spans in {result.requests} requests; "
            f"{service.stats.spans_stored} stored so far")
        _watch_alerts(service.client(), report, out, wait_seconds, quiet_seconds, service.workers_behind)
    _summarise(report, settings.data_dir / "demo.labels.jsonl", out)
    return report


def _watch_alerts(client: Client, report: DemoReport, out: Callable[[str], None],
                  wait_seconds: float, quiet_seconds: float, behind: Callable[[], bool]) -> None:
    """Print alerts as they fire; stop once the detectors have caught up and ``quiet_seconds``
    passed without a new alert (full windows come after the live alerts, in their own time)."""
    deadline = time.monotonic() + wait_seconds
    seen: list[str] = []
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and (behind() or time.monotonic() - quiet_since < quiet_seconds):
        rows = client.query(_NEW_ALERTS, parameters={"seen": seen}).result_rows
        for alert_id, detector, severity, agents, principals, title in rows:
            seen.append(alert_id)
            report.alerts.append((detector, severity, title))
            who = ", ".join(list(agents)[:4] + list(principals)[:2])
            out(f"  ALERT [{severity}] {detector}: {title} ({who})")
            quiet_since = time.monotonic()
        time.sleep(1.0)


def _summarise(report: DemoReport, labels: Path, out: Callable[[str], None]) -> None:
    out("")
    out(f"summary: {report.spans} spans ingested, {len(report.incidents)} incidents injected, "
        f"{len(report.alerts)} alerts raised")
    for incident in report.incidents:
        out(f"  injected: {incident}")
    out(f"ground truth: {labels}")
    out("next: `fleetwatch serve` to run the service; point OTEL_EXPORTER_OTLP_ENDPOINT at it;")
    out("      `fleetwatch status` while it runs; docs/detectors.md for what each alert means;")
    out("      `fleetwatch grafana sync` for dashboards (docs/dashboards.md).")
