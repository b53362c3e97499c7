"""The live lane's by-agent thread: jobs judged in order, on the thread's own client, a tenant's
waiting jobs judged as one, the oldest dropped (and counted) when it falls behind, and a failing
job does not stop it."""

from __future__ import annotations

import threading
import time
from typing import Any

from clickhouse_connect.driver.client import Client

from detectors.agent_lane import AgentJob, AgentLane
from detectors.fleet import FleetDirectory


def job(n: int, tenant: str = "t", detector: str = "loops") -> AgentJob:
    return AgentJob(tenant, n, FleetDirectory(), {detector: [f"agent-{n}"]})


def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_jobs_are_judged_in_order_on_the_lanes_own_client() -> None:
    own_client = object()
    seen: list[tuple[object, int, str]] = []

    def judge(client: Client, j: AgentJob) -> int:
        seen.append((client, j.end_ns, threading.current_thread().name))
        return 2

    lane = AgentLane(judge)
    lane.start(lambda: own_client)  # type: ignore[arg-type,return-value]
    try:
        for n in range(5):
            lane.submit(job(n))
            wait_until(lambda n=n: lane.idle() and len(seen) == n + 1)
    finally:
        lane.stop()
    assert [n for _, n, _ in seen] == [0, 1, 2, 3, 4]
    assert {c for c, _, _ in seen} == {own_client}
    assert {name for _, _, name in seen} == {"detector-agents"}
    assert lane.written == 10 and lane.dropped == 0


def held_lane(max_jobs: int = 8) -> tuple[AgentLane, threading.Event, list[AgentJob]]:
    """A started lane whose judge waits for the event; the jobs it judged, in order."""
    release = threading.Event()
    judged: list[AgentJob] = []

    def judge(client: Client, j: AgentJob) -> int:
        release.wait(10)
        judged.append(j)
        return 0

    lane = AgentLane(judge, max_jobs=max_jobs)
    lane.start(lambda: None)  # type: ignore[arg-type,return-value]
    return lane, release, judged


def test_a_tenants_waiting_jobs_are_judged_as_one_on_the_newest_window() -> None:
    lane, release, judged = held_lane()
    try:
        lane.submit(job(0))
        wait_until(lambda: lane.waiting() == 0)  # job 0 is being judged
        lane.submit(job(1))
        lane.submit(job(2, tenant="u"))
        lane.submit(job(3, detector="silent_failures"))
        lane.submit(job(4))
        release.set()
        wait_until(lane.idle)
    finally:
        lane.stop()
    assert [(j.tenant, j.end_ns) for j in judged] == [("t", 0), ("t", 4), ("u", 2)]
    assert judged[1].suspects == {"loops": ["agent-1", "agent-4"], "silent_failures": ["agent-3"]}
    assert judged[2].suspects == {"loops": ["agent-2"]}
    assert lane.dropped == 0


def test_a_lane_behind_drops_the_oldest_jobs_and_counts_them() -> None:
    lane, release, judged = held_lane(max_jobs=3)
    try:
        lane.submit(job(0))
        wait_until(lambda: lane.waiting() == 0)  # job 0 is being judged
        for n in range(1, 7):
            lane.submit(job(n))
        assert lane.waiting() == 3 and lane.dropped == 3
        release.set()
        wait_until(lane.idle)
    finally:
        lane.stop()
    assert [j.end_ns for j in judged] == [0, 6]
    assert judged[1].suspects == {"loops": ["agent-4", "agent-5", "agent-6"]}


def test_a_failing_job_is_logged_and_the_next_is_judged() -> None:
    judged: list[int] = []

    def judge(client: Client, j: AgentJob) -> int:
        if j.end_ns == 0:
            raise RuntimeError("boom")
        judged.append(j.end_ns)
        return 1

    lane = AgentLane(judge)
    lane.start(lambda: None)  # type: ignore[arg-type,return-value]
    try:
        lane.submit(job(0))
        lane.submit(job(1))
        wait_until(lambda: lane.idle() and judged == [1])
    finally:
        lane.stop()
    assert lane.written == 1


def test_a_stopped_lane_can_start_again() -> None:
    judged: list[int] = []
    lane = AgentLane(lambda client, j: judged.append(j.end_ns) or 0)
    for n in range(2):
        lane.start(lambda: None)  # type: ignore[arg-type,return-value]
        lane.submit(job(n))
        wait_until(lambda n=n: lane.idle() and len(judged) == n + 1)
        lane.stop()
    assert judged == [0, 1]
