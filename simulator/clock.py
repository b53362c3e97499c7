"""Simulated time: the clock the world runs on, the start time, and wall-clock pacing.

In simulated mode nothing reads the wall clock: spans carry explicit timestamps computed from the
simulated clock, so hours of fleet activity are produced in seconds and a seed reproduces them
exactly. ``--realtime`` keeps the same timestamps but waits for the wall clock to reach each
event before running it (``Pacer``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

NS_PER_SECOND = 1_000_000_000
# 2026-01-01T00:00:00Z: the default start of simulated runs, so a seed alone fixes every timestamp.
FIXED_EPOCH_NS = 1_767_225_600 * NS_PER_SECOND


def seconds(value: float) -> int:
    """Seconds (float) as integer nanoseconds."""
    return int(round(value * NS_PER_SECOND))


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h`` -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    text = text.strip().lower()
    factor = units.get(text[-1:])
    number = float(text[:-1] if factor is not None else text)
    if number <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return number * (factor or 1.0)


def parse_start(text: str | None, *, realtime: bool, wall_ns: Callable[[], int] = time.time_ns) -> int:
    """The run's start time in Unix nanoseconds.

    None means the fixed epoch in simulated mode (reproducible) and "now" in realtime mode (a
    paced run with timestamps in the past would be pointless). ``now`` is truncated to the whole
    second; anything else is read as an ISO-8601 time (UTC when no zone is given).
    """
    if text is None:
        text = "now" if realtime else "epoch"
    if text == "epoch":
        return FIXED_EPOCH_NS
    if text == "now":
        return (wall_ns() // NS_PER_SECOND) * NS_PER_SECOND
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * NS_PER_SECOND


class SimClock:
    """The simulated present; it only moves forward."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self._now_ns = start_ns

    @property
    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, when_ns: int) -> None:
        self._now_ns = max(self._now_ns, when_ns)

    def offset_ns(self, when_ns: int) -> int:
        """Nanoseconds since the start of the run."""
        return when_ns - self.start_ns


class Pacer:
    """Sleeps until the wall clock has caught up with a simulated time (realtime mode)."""

    def __init__(
        self,
        start_ns: int,
        *,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._start_ns = start_ns
        self._monotonic_ns = monotonic_ns
        self._sleep = sleep
        self._wall_origin = monotonic_ns()

    def wait_until(self, sim_ns: int) -> None:
        due = self._wall_origin + (sim_ns - self._start_ns)
        remaining = due - self._monotonic_ns()
        if remaining > 0:
            self._sleep(remaining / NS_PER_SECOND)
