"""Background workers: run every interval, report whether work is due, close what they started."""

from __future__ import annotations

import threading
import time

import pytest

from fleetwatch.workers import PeriodicWorker


class Recorder:
    """A worker with a thread of its own (as the detector engine has its sweep thread)."""

    def __init__(self) -> None:
        self.runs = 0
        self.closed = threading.Event()
        self.helper = threading.Thread(target=self.closed.wait, daemon=True)
        self.helper.start()

    def run_once(self) -> int:
        self.runs += 1
        return 0

    def behind(self) -> bool:
        return self.runs < 3

    def close(self) -> None:
        self.closed.set()
        self.helper.join(timeout=5)


def test_stopping_a_worker_closes_it_and_its_thread() -> None:
    made: list[Recorder] = []

    def make() -> Recorder:
        made.append(Recorder())
        return made[-1]

    worker = PeriodicWorker("recorder", make, interval=0.01)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.runs < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.runs >= 5 and not worker.behind  # behind() said False from the third run on
    worker.stop()
    [recorder] = made
    assert recorder.closed.is_set() and not recorder.helper.is_alive()


def test_a_worker_without_close_or_behind_is_fine() -> None:
    class Plain:
        def run_once(self) -> int:
            return 0

    worker = PeriodicWorker("plain", Plain, interval=0.01)
    worker.start()
    time.sleep(0.1)
    worker.stop()
    assert worker.runs > 0 and worker.last_error is None and not worker.behind


def test_a_worker_that_reports_itself_shows_in_details() -> None:
    class Reporting:
        runs = 0

        def run_once(self) -> int:
            self.runs += 1
            return 0

        def status(self) -> dict[str, object]:
            return {"ran": self.runs}

    worker = PeriodicWorker("reporting", Reporting, interval=0.01)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.runs < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert worker.details["ran"] == worker.runs >= 2


def test_runs_start_every_interval_and_rest_fully_after_a_failure() -> None:
    from fleetwatch.workers import rest

    assert rest(1.0, 0.7, ok=True) == pytest.approx(0.3)
    assert rest(1.0, 2.5, ok=True) == 0.0  # overran: the next run starts at once
    assert rest(1.0, 0.1, ok=False) == 1.0
