"""The whole product in one process: simulated fleet -> OTLP -> receiver -> chDB -> detectors -> alerts."""

from __future__ import annotations

from fleetwatch.config import Settings
from fleetwatch.demo import run_demo


def test_demo_detects_the_injected_incidents(settings: Settings) -> None:
    printed: list[str] = []
    report = run_demo(settings, out=printed.append, wait_seconds=120, quiet_seconds=10)
    assert report.spans > 0
    assert len(report.incidents) == 5
    fired = {detector for detector, _, _ in report.alerts}
    # CS2 authority, CS4 loops, CS8 spoofing, CS1 destructive, CS11 fan-out were injected.
    assert {"authority", "loops", "spoofing", "destructive", "fan_out"} <= fired, fired
    assert any(line.startswith("  ALERT [") for line in printed)
    assert any(line.startswith("summary:") for line in printed)
