"""Per-agent adaptive volume baseline for the runaway detector.

Volumes (tokens, bytes, tool calls) are summed per agent in fixed buckets of event time. Each
complete bucket is scored against the agent's own history - an exponentially weighted mean and
variance of log volumes - and only then folded in, so a runaway never teaches the baseline that
it is normal. The state is one small JSON document per agent in ``ctx.baseline``; a bucket is
processed once (``last`` remembers the newest), so overlapping windows do not count it twice.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class HotBucket:
    agent: str
    metric: str
    start_ns: int
    value: float
    usual: float  # the agent's typical volume per bucket (exp of the log mean) when flagged
    z: float

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "metric": self.metric, "start_ns": self.start_ns,
                "value": self.value, "usual": self.usual, "z": self.z}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HotBucket:
        return cls(str(doc["agent"]), str(doc["metric"]), int(doc["start_ns"]),
                   float(doc["value"]), float(doc["usual"]), float(doc["z"]))


def _fresh() -> dict[str, Any]:
    return {"n": 0, "last": None, "mean": dict.fromkeys(METRICS, 0.0), "var": dict.fromkeys(METRICS, 1.0)}


def score_bucket(state: dict[str, Any], volumes: dict[str, float], agent: str, start_ns: int,
                 settings: VolumeSettings) -> list[HotBucket]:
    """Score one complete bucket against ``state`` and fold it in unless it was anomalous."""
    hot = []
    warm = state["n"] >= settings.warmup_buckets
    for metric in METRICS:
        value = volumes.get(metric, 0.0)
        logged = math.log1p(value)
        mean, var = state["mean"][metric], state["var"][metric]
        z = (logged - mean) / max(math.sqrt(var), settings.min_std)
        # Before warm-up only a volume far beyond the floor counts (no history to compare to).
        floor = settings.floors[metric] * (1.0 if warm else 4.0)
        if value >= floor and (z >= settings.min_z or not warm):
            hot.append(HotBucket(agent, metric, start_ns, value, math.expm1(mean), z))
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
            first_ns: int, end_ns: int, settings: VolumeSettings) -> tuple[dict[str, Any], list[HotBucket]]:
    """Process every complete bucket in [first_ns, end_ns) newer than the state's ``last``.

    Buckets with no activity count as zero volume (idle time is part of an agent's normal)."""
    state = state if state is not None else _fresh()
    hot: list[HotBucket] = []
    start = first_ns - first_ns % settings.bucket_ns
    if start < first_ns:
        start += settings.bucket_ns
    if state["last"] is not None:
        start = max(start, int(state["last"]) + settings.bucket_ns)
    while start + settings.bucket_ns <= end_ns:
        hot += score_bucket(state, per_bucket.get(start, {}), agent, start, settings)
        start += settings.bucket_ns
    return state, hot
