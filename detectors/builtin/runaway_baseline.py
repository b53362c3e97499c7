"""Per-agent adaptive volume baseline for the runaway detector.

Volumes (tokens, bytes, tool calls) are summed per agent in fixed buckets of event time. Each
complete bucket is scored against the agent's own history - an exponentially weighted mean and
variance of log volumes - and only then folded in, so a runaway never teaches the baseline that
it is normal. The state is one small JSON document per agent in ``ctx.baseline``; a bucket is
processed once (``last`` remembers the newest), so overlapping windows do not count it twice.

An agent still warming up has no history of its own to be compared with, so its bucket is
compared with its peers' in the same bucket (``FleetBucket``): in a fleet where every agent
burns two million tokens in five minutes, a new agent doing the same is not a runaway. Only an
agent with fewer than ``min_peers`` peers falls back to an absolute floor (4x the floor).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

METRICS = ("tokens", "bytes", "calls")


@dataclass(frozen=True)
class VolumeSettings:
    bucket_ns: int
    warmup_buckets: int
    alpha: float  # weight of the newest bucket in the moving mean and variance
    min_z: float  # standard deviations above the agent's own mean
    floors: dict[str, float]  # below these absolute volumes a bucket is never anomalous
    min_std: float = 0.5  # in log units: stops a very regular agent from alerting on small steps
    min_peers: int = 5  # active agents in a bucket for the fleet to be a cold agent's reference


@dataclass(frozen=True)
class FleetBucket:
    """The active agents' volumes in one bucket, as log1p median and robust spread per metric."""
    agents: int
    median: dict[str, float]
    spread: dict[str, float]  # 1.4826 x median absolute deviation of the log volumes


@dataclass(frozen=True)
class HotBucket:
    agent: str
    metric: str
    start_ns: int
    value: float
    usual: float  # the typical volume per bucket (exp of the log mean or median) when flagged
    z: float
    against: str = "own"  # what ``usual`` is: "own" history, the "fleet"'s bucket, or a "floor"

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "metric": self.metric, "start_ns": self.start_ns,
                "value": self.value, "usual": self.usual, "z": self.z, "against": self.against}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HotBucket:
        return cls(str(doc["agent"]), str(doc["metric"]), int(doc["start_ns"]),
                   float(doc["value"]), float(doc["usual"]), float(doc["z"]),
                   str(doc.get("against", "own")))


def fleet_buckets(volumes: dict[str, dict[int, dict[str, float]]]) -> dict[int, FleetBucket]:
    """Per bucket start, the volumes of the agents active in it (agent -> bucket -> metrics)."""
    logged: dict[int, dict[str, list[float]]] = {}
    for buckets in volumes.values():
        for start, metrics in buckets.items():
            slot = logged.setdefault(start, {m: [] for m in METRICS})
            for metric in METRICS:
                slot[metric].append(math.log1p(metrics.get(metric, 0.0)))
    return {start: _summary(slot) for start, slot in logged.items()}


def _summary(logged: dict[str, list[float]]) -> FleetBucket:
    median = {m: statistics.median(values) for m, values in logged.items()}
    spread = {m: 1.4826 * statistics.median(abs(v - median[m]) for v in values)
              for m, values in logged.items()}
    return FleetBucket(len(logged[METRICS[0]]), median, spread)


def _fresh() -> dict[str, Any]:
    return {"n": 0, "last": None, "mean": dict.fromkeys(METRICS, 0.0), "var": dict.fromkeys(METRICS, 1.0)}


def _reference(state: dict[str, Any], fleet: FleetBucket | None, metric: str,
               settings: VolumeSettings) -> tuple[str, float, float]:
    """What a bucket is compared with: (against, log centre, spread)."""
    if state["n"] >= settings.warmup_buckets:
        return "own", state["mean"][metric], math.sqrt(state["var"][metric])
    if fleet is not None and fleet.agents >= settings.min_peers:
        return "fleet", fleet.median[metric], fleet.spread[metric]
    return "floor", 0.0, 0.0


def score_bucket(state: dict[str, Any], volumes: dict[str, float], agent: str, start_ns: int,
                 settings: VolumeSettings, fleet: FleetBucket | None = None) -> list[HotBucket]:
    """Score one complete bucket against ``state`` (or, warming up, ``fleet``) and fold it in
    unless it was anomalous."""
    hot = []
    for metric in METRICS:
        value = volumes.get(metric, 0.0)
        logged = math.log1p(value)
        against, centre, spread = _reference(state, fleet, metric, settings)
        z = (logged - centre) / max(spread, settings.min_std)
        # With nothing to compare to, only a volume far beyond the floor counts.
        floor = settings.floors[metric] * (4.0 if against == "floor" else 1.0)
        if value >= floor and (z >= settings.min_z or against == "floor"):
            hot.append(HotBucket(agent, metric, start_ns, value, math.expm1(centre), z, against))
    if not hot:
        for metric in METRICS:
            logged = math.log1p(volumes.get(metric, 0.0))
            if state["n"] == 0:
                state["mean"][metric] = logged
                continue
            delta = logged - state["mean"][metric]
            state["mean"][metric] += settings.alpha * delta
            state["var"][metric] = (1 - settings.alpha) * (state["var"][metric] + settings.alpha * delta**2)
        state["n"] += 1
    state["last"] = start_ns
    return hot


def advance(state: dict[str, Any] | None, per_bucket: dict[int, dict[str, float]], agent: str,
            first_ns: int, end_ns: int, settings: VolumeSettings,
            fleet: dict[int, FleetBucket] | None = None) -> tuple[dict[str, Any], list[HotBucket]]:
    """Process every complete bucket in [first_ns, end_ns) newer than the state's ``last``.

    Buckets with no activity count as zero volume (idle time is part of an agent's normal),
    from the agent's first active bucket on: before it the agent was not there to be idle."""
    state = state if state is not None else _fresh()
    hot: list[HotBucket] = []
    start = first_ns - first_ns % settings.bucket_ns
    if start < first_ns:
        start += settings.bucket_ns
    if state["last"] is not None:
        start = max(start, int(state["last"]) + settings.bucket_ns)
    elif per_bucket:
        start = max(start, min(per_bucket))
    fleet = fleet or {}
    while start + settings.bucket_ns <= end_ns:
        hot += score_bucket(state, per_bucket.get(start, {}), agent, start, settings, fleet.get(start))
        start += settings.bucket_ns
    return state, hot
