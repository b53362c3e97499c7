"""Process-wide settings, applied once by whatever runs fleetwatch's threads (the service, the
benchmarks), never at import."""

from __future__ import annotations

import sys

from fleetwatch.config import Settings


def apply_process_settings(settings: Settings) -> None:
    # The detector tick gives the GIL up at each ClickHouse query and polars call and waits for
    # it on return; behind a sweep busy in Python each wait lasts up to the switch interval.
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
