"""Background workers (detectors, alert delivery) run inside a service process.

A worker is anything with ``run_once() -> int``; a thread calls it every interval. Factories are
listed explicitly; each returns None when its feature is not configured.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from clickhouse_connect.driver.client import Client

from fleetwatch.config import Settings

log = logging.getLogger(__name__)


class Worker(Protocol):
    def run_once(self) -> int: ...


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    enabled: Callable[[Settings], bool]
    make: Callable[[Settings, Client], Worker]


def worker_specs() -> list[WorkerSpec]:
    """The workers a ``detectors`` role runs, in order (detect, then deliver)."""
    # Imported here so that importing fleetwatch.workers stays free of side effects and cheap.
    from dashboards.annotations import AnnotationPublisher, annotations_enabled
    from detectors.delivery import WebhookDispatcher

    return [
        WorkerSpec("detectors", enabled=lambda settings: True, make=detector_engine),
        WorkerSpec("webhooks", enabled=lambda settings: True, make=WebhookDispatcher),
        WorkerSpec("grafana-annotations", enabled=annotations_enabled, make=AnnotationPublisher),
    ]


def detector_engine(settings: Settings, client: Client) -> Worker:
    from detectors.builtin.catalogue import builtin_registry
    from detectors.engine import DetectorEngine
    from detectors.policy import load_policy

    policy = load_policy(settings.policy_file)
    return DetectorEngine(settings, client, builtin_registry(policy), policy)


class PeriodicWorker:
    """Calls ``run_once`` every ``interval`` seconds on its own thread and client."""

    def __init__(self, name: str, make: Callable[[], Worker], interval: float) -> None:
        self.name = name
        self._make = make
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"worker-{name}", daemon=True)
        self.runs = 0
        self.last_error: str | None = None
        # Whether the worker still has work due (the detector engine: windows not yet evaluated).
        self.behind = False
        self.details: dict[str, object] = {}  # what the worker reports of itself, after each run

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        worker = self._make()
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                ok = self._run(worker)
                self._stop.wait(rest(self._interval, time.monotonic() - began, ok))
        finally:
            _close(worker)

    def _run(self, worker: Worker) -> bool:
        try:
            worker.run_once()
            self.runs += 1
            self.behind = _behind(worker)
            self.details = _details(worker)
            return True
        except Exception as error:  # noqa: BLE001 - a failing worker must not kill the service
            self.last_error = f"{type(error).__name__}: {str(error)[:300]}"
            log.exception("worker %s failed; retrying next interval", self.name)
            return False


def rest(interval: float, took: float, ok: bool) -> float:
    """Seconds to wait before the next run: runs start every ``interval`` (a run that took 0.7 s
    of a 1 s interval is followed by 0.3 s of rest, not 1 s: the detector engine's live alerts
    wait for the next run), back to back when a run overran; after a failure, the whole
    interval (a failing store is not retried in a tight loop)."""
    return max(0.0, interval - took) if ok else interval


def _behind(worker: Worker) -> bool:
    """A worker that can tell (``behind() -> bool``) says whether work is still due."""
    check = getattr(worker, "behind", None)
    return bool(check()) if callable(check) else False


def _details(worker: Worker) -> dict[str, object]:
    """A worker that can tell (``status() -> dict``) reports it: read on the worker's own thread,
    so the service's status handler never touches the worker's state."""
    status = getattr(worker, "status", None)
    return dict(status()) if callable(status) else {}


def _close(worker: Worker) -> None:
    """Stop what a worker runs besides (the detector engine's sweep thread): a thread still
    querying chDB while the process exits can crash it."""
    close = getattr(worker, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - shutting down: report and go on
            log.exception("worker %s did not close cleanly", type(worker).__name__)
