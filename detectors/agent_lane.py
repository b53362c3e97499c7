"""The live lane's by-agent part on a thread of its own.

A tick's by-agent part re-judges the whole window of the few agents the changed traces point
at (loops, silent failures, runaway): usually a tenth of a second, but on a busy machine up to
a few seconds (2.6 s for runaway's 16 agents in one bench tick). Run inside the tick it held
back the next tick, and with it every trace alert of the next half second. Here it runs beside
the ticks: each tick hands over one job (its suspects, its window end and directory), and the
thread judges the jobs in order, on its own ClickHouse client.

Bounded: at most ``max_jobs`` wait; when the thread falls further behind the oldest job is
dropped (logged and counted; the full windows still cover its agents).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from detectors.fleet import FleetDirectory

log = logging.getLogger(__name__)
MAX_JOBS = 8  # about four seconds of 0.5 s ticks


@dataclass(frozen=True)
class AgentJob:
    tenant: str
    end_ns: int  # the live window's end at the tick that found the suspects
    directory: FleetDirectory  # immutable: shared with the tick safely
    suspects: dict[str, list[str]]  # detector -> agents to re-judge (each within the cap)

    def merged(self, later: AgentJob) -> AgentJob:
        """One job judging both: every suspect, on the later job's window and directory (a
        window a second later covers the same turns but for its first second, which the full
        windows cover anyway)."""
        suspects = {name: sorted({*self.suspects.get(name, ()), *later.suspects.get(name, ())})
                    for name in {*self.suspects, *later.suspects}}
        return AgentJob(later.tenant, later.end_ns, later.directory, suspects)


class AgentLane:
    """Runs ``judge(client, job)`` for each submitted job on one background thread."""

    def __init__(self, judge: Callable[[Client, AgentJob], int], max_jobs: int = MAX_JOBS) -> None:
        self._judge = judge
        self._jobs: deque[AgentJob] = deque()
        self._max_jobs = max_jobs
        self._ready = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.dropped = 0  # jobs dropped unjudged because the thread was behind
        self.written = 0  # alert rows written by the thread
        self.thread_id: int | None = None  # native id of the thread (CPU accounting)

    def start(self, connect: Callable[[], Client]) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._loop, args=(connect,),
                                            name="detector-agents", daemon=True)
            self._thread.start()

    def submit(self, job: AgentJob) -> None:
        with self._ready:
            self._jobs.append(job)
            while len(self._jobs) > self._max_jobs:
                gone = self._jobs.popleft()
                self.dropped += 1
                log.info("live by-agent part behind: the job of tenant %s at %d dropped",
                         gone.tenant, gone.end_ns)
            self._ready.notify()

    def idle(self) -> bool:
        """No job waiting or being judged (tests wait on it)."""
        with self._ready:
            return not self._jobs and not self._busy

    def waiting(self) -> int:
        with self._ready:
            return len(self._jobs)

    def stop(self) -> None:
        with self._ready:
            self._stop = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def _loop(self, connect: Callable[[], Client]) -> None:
        self.thread_id = threading.get_native_id()
        client = connect()
        while True:
            with self._ready:
                while not self._jobs and not self._stop:
                    self._ready.wait()
                if self._stop:
                    return
                job = self._next_job()
                self._busy = True
            try:
                self.written += self._judge(client, job)
            except Exception:  # noqa: BLE001 - the lane must outlive a bad job; the sweep covers it
                log.exception("live by-agent part failed on tenant %s", job.tenant)
            finally:
                with self._ready:
                    self._busy = False

    def _next_job(self) -> AgentJob:
        """The oldest job, merged with every other waiting job of its tenant: a suspect named
        by several ticks is judged once, and a lane that fell behind catches up in one pass
        instead of dropping jobs (the caller holds the lock)."""
        job = self._jobs.popleft()
        others = [j for j in self._jobs if j.tenant != job.tenant]
        for same in (j for j in self._jobs if j.tenant == job.tenant):
            job = job.merged(same)
        self._jobs = deque(others)
        return job
