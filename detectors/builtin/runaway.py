"""Resource runaway and denial of service (CS4 token burn, CS5): an agent made to consume or
store without bound.

Four signals, each its own incident: one target written again and again, larger every time
(``growth``); many sizable writes on the word of one non-owner (``flood``); storage or quota
exhaustion the owner was not told about (``exhaustion``); and an agent's tokens, bytes or tool
calls per bucket far above its own adaptive baseline (``volume``, see runaway_baseline.py).
A single big upload, an owner's busy afternoon or a burst of questions stays quiet: none of
them grows one target, floods from one outsider, exhausts storage or sustains volume far above
the agent's own history and an absolute floor.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import SECOND_NS, Detector
from detectors.builtin import frames
from detectors.builtin.runaway_baseline import HotBucket, VolumeSettings, advance, fleet_buckets
from detectors.builtin.runaway_signals import EXHAUSTION, MIB, GrowthRule, exhaustion, flood, growth
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement


class RunawayParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    growth_writes: int = 5  # writes in a row, each larger than the last
    growth_ratio: float = 3.0  # last / first size of that run
    growth_step: float = 1.05  # "larger" means at least this factor
    growth_share: float = 0.5  # of the target's writes in the window, the run is at least this
    growth_min_kib: int = 32  # the run's last size, in bytes written...
    growth_min_tokens: int = 16_000  # ...or, without bytes, in the writing turn's prompt tokens
    flood_mib: int = 1
    flood_writes: int = 6
    weight_exhaustion: float = 0.5  # per failed call (at most 3)
    weight_unreported: float = 0.5
    notify_grace_seconds: float = 120.0  # time the agent has to tell its owner
    bucket_seconds: float = 300.0
    warmup_buckets: int = 12
    baseline_alpha: float = 0.05
    volume_z: float = 4.0
    floor_tokens: float = 200_000
    floor_mib: float = 2048
    floor_calls: float = 150


class ResourceRunaway(Detector[RunawayParams]):
    name = "runaway"
    summary = "growing targets, write floods, unreported exhaustion and volume far above baseline"
    params_model = RunawayParams
    requirements = (
        Requirement(("fleet.action.target",), "what each write grows"),
        Requirement(("fleet.resource.bytes", "gen_ai.usage.input_tokens"), "how much was stored or read"),
    )
    default_window_seconds = 1800
    default_slide_seconds = 30
    default_threshold = 1.0
    # growth and exhaustion are one agent's; flood sums over agents and, live, treats the
    # principal as an owner if it owns any agent (so a part never scores higher). The volume
    # signal learns a baseline bucket by bucket: full windows only.
    early_by_agent = True

    def live_agents(self, ctx: EvalContext) -> set[str]:
        """Agents that, in the changed traces, wrote on a non-owner's word, wrote or sent a
        sizable payload, or failed for lack of storage."""
        directory, p = ctx.directory(), self.params
        tools = frames.with_instructor(frames.tools(ctx), frames.turns(ctx))
        writes = tools.filter(pl.col("kind").is_in(["write", "send"]) & ~pl.col("failed"))
        outsider = writes.filter(directory.outsider("instructor"))["agent"].to_list()
        heavy = writes.filter(pl.col("bytes") >= p.flood_mib * MIB)["agent"].to_list()
        starved = tools.filter(pl.col("failed") & pl.col("error_type").str.contains(
            "(?i)" + EXHAUSTION.pattern))["agent"].to_list()
        return set(outsider) | set(heavy) | set(starved)

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        turn_frame = frames.turns(ctx)
        tools = frames.with_instructor(frames.tools(ctx), turn_frame)
        chats = frames.chats(ctx)
        directory = ctx.directory()
        p = self.params
        signals = growth(self._writes(tools, chats), GrowthRule(
            p.growth_writes, p.growth_ratio, p.growth_step, p.growth_share,
            p.growth_min_kib * 1024, p.growth_min_tokens))
        signals += flood(tools, p.flood_mib * MIB, p.flood_writes, directory, any_owner=ctx.live)
        judged_until = ctx.window.end_ns - int(p.notify_grace_seconds * SECOND_NS)
        signals += exhaustion(tools, frames.sends(ctx), directory, judged_until,
                              p.weight_exhaustion, p.weight_unreported)
        found = [self._candidate(*signal) for signal in signals]
        return found if ctx.live else found + self._volume(ctx, tools, chats)

    @staticmethod
    def _writes(tools: pl.DataFrame, chats: pl.DataFrame) -> pl.DataFrame:
        prompt = chats.group_by("trace").agg(pl.col("input_tokens").max().cast(pl.Int64).alias("prompt"))
        writes = tools.filter((pl.col("kind") == "write") & ~pl.col("failed") & (pl.col("target") != ""))
        return writes.join(prompt, on="trace", how="left").with_columns(
            size=pl.when(pl.col("bytes") > 0).then(pl.col("bytes").cast(pl.Int64))
            .otherwise(pl.col("prompt").fill_null(0))
        )

    def _candidate(self, key: str, score: float, reason: str, agents: tuple[str, ...],
                   principals: tuple[str, ...], used: pl.DataFrame) -> Candidate:
        kind = key.split(":", 1)[0]
        return Candidate(
            key=key, score=score, title=f"resource runaway ({kind}) on {', '.join(agents)}",
            explanation=f"{', '.join(agents)}: {reason}.", agents=agents, principals=principals,
            evidence=evidence(used), first_event_ns=first_ts(used), labels={"signal": kind},
        )

    def _volume(self, ctx: EvalContext, tools: pl.DataFrame, chats: pl.DataFrame) -> list[Candidate]:
        p = self.params
        settings = VolumeSettings(
            bucket_ns=int(p.bucket_seconds * SECOND_NS), warmup_buckets=p.warmup_buckets,
            alpha=p.baseline_alpha, min_z=p.volume_z,
            floors=_floors(p),
        )
        volumes = _bucket_volumes(tools, chats, settings.bucket_ns)
        fleet = fleet_buckets(volumes)
        hot = [HotBucket.from_json(doc) for doc in ctx.baseline.get("hot", [])]
        window = ctx.window
        for agent in sorted(set(tools["agent"].to_list()) | set(chats["agent"].to_list())):
            state, new = advance(ctx.baseline.get(f"volume:{agent}"), volumes.get(agent, {}), agent,
                                 window.start_ns, window.end_ns, settings, fleet)
            ctx.baseline.put(f"volume:{agent}", state)
            hot += new
        hot = [h for h in hot if h.start_ns + settings.bucket_ns > window.start_ns]
        ctx.baseline.put("hot", [h.as_json() for h in hot])
        strongest: dict[tuple[str, str], HotBucket] = {}
        for h in hot:
            if h.start_ns < window.end_ns and h.z > strongest.get((h.agent, h.metric), h).z - 1e-9:
                strongest[(h.agent, h.metric)] = h
        return [self._volume_candidate(h, tools, chats, settings.bucket_ns) for h in strongest.values()]

    def _volume_candidate(self, hot: HotBucket, tools: pl.DataFrame, chats: pl.DataFrame,
                          bucket_ns: int) -> Candidate:
        source = chats if hot.metric == "tokens" else tools
        used = source.filter((pl.col("agent") == hot.agent) & (pl.col("ts") >= hot.start_ns)
                             & (pl.col("ts") < hot.start_ns + bucket_ns))
        minutes = bucket_ns / SECOND_NS / 60
        unit = {"tokens": "tokens", "bytes": "bytes", "calls": "tool calls"}[hot.metric]
        return Candidate(
            key=f"volume:{hot.agent}|{hot.metric}", score=_volume_score(hot, self.params),
            title=f"{hot.agent} {unit} far above {_BASELINE_NAMES[hot.against]}",
            explanation=f"{hot.agent} used {hot.value:.0f} {unit} in {minutes:.0f} minutes; {_usual(hot)}.",
            agents=(hot.agent,), evidence=evidence(used), first_event_ns=first_ts(used) or hot.start_ns,
            labels={"signal": "volume", "metric": hot.metric},
        )


Volumes = dict[str, dict[int, dict[str, float]]]
_BASELINE_NAMES = {"own": "its baseline", "fleet": "the fleet's", "floor": "the absolute floor"}


def _volume_score(hot: HotBucket, p: RunawayParams) -> float:
    if hot.against != "floor":
        return min(hot.z / p.volume_z, 3.0)
    # Against the floor there is no spread to measure z in: score how far past it (x4) it went.
    return min(hot.value / (4 * _floors(p)[hot.metric]), 3.0)


def _floors(p: RunawayParams) -> dict[str, float]:
    return {"tokens": p.floor_tokens, "bytes": p.floor_mib * MIB, "calls": p.floor_calls}


def _usual(hot: HotBucket) -> str:
    if hot.against == "own":
        return f"its usual is about {hot.usual:.0f} ({hot.z:.1f} standard deviations above)"
    if hot.against == "fleet":
        return (f"it is still warming up, and the fleet's agents used about {hot.usual:.0f} in "
                f"that time ({hot.z:.1f} standard deviations above)")
    return "it is still warming up, with too few peers to compare with, and that is far past the floor"


def _bucket_volumes(tools: pl.DataFrame, chats: pl.DataFrame, bucket_ns: int) -> Volumes:
    """agent -> bucket start -> {tokens, bytes, calls}."""
    out: Volumes = {}
    bucket = (pl.col("ts") - pl.col("ts") % bucket_ns).alias("bucket")
    token_rows = chats.group_by("agent", bucket).agg(
        (pl.col("input_tokens") + pl.col("output_tokens")).sum().alias("v")).rows()
    tool_rows = tools.group_by("agent", bucket).agg(
        pl.col("bytes").sum().alias("bytes"), pl.len().alias("calls")).rows()
    for agent, start, tokens in token_rows:
        out.setdefault(agent, {}).setdefault(start, {})["tokens"] = float(tokens)
    for agent, start, size, calls in tool_rows:
        slot = out.setdefault(agent, {}).setdefault(start, {})
        slot["bytes"], slot["calls"] = float(size), float(calls)
    return out
