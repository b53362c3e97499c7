"""Distinct recipients per turn, with who asked for the turn and what triggered it."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Sparse instrumentation drops fleet.trigger; the simulator and most frameworks still name the
# system channel a cron tick or heartbeat arrives on.
_CHANNEL_TRIGGERS = {"system:cron": "cron", "system:heartbeat": "heartbeat"}


@dataclass(frozen=True)
class TurnFanOut:
    agent: str
    trace: str
    instructor: str
    trigger: str
    urgent: bool
    reach: int  # distinct recipients other than the instructor
    peers: int  # of which fleet agents (their own principal ids)


def fan_out_per_turn(send_frame: pl.DataFrame, turn_frame: pl.DataFrame,
                     agent_principals: set[str]) -> list[TurnFanOut]:
    """One entry per turn whose root is in the window (a turn cut off at the window start is
    judged in an earlier window, where its instructor is known)."""
    roots = turn_frame.select(
        "trace", "principal", "urgent",
        pl.when(pl.col("trigger") != "").then(pl.col("trigger"))
        .otherwise(pl.col("channel").replace_strict(_CHANNEL_TRIGGERS, default=""))
        .alias("trigger"),
    ).unique("trace", keep="first")
    sends = send_frame.join(roots, on="trace", how="inner")
    turns: list[TurnFanOut] = []
    for (agent, trace), spans in sends.group_by(["agent", "trace"], maintain_order=True):
        first = spans.row(0, named=True)
        instructor = str(first["principal"])
        reached = _recipients(spans) - {instructor, ""}
        turns.append(TurnFanOut(str(agent), str(trace), instructor, str(first["trigger"]),
                                bool(first["urgent"]), len(reached), len(reached & agent_principals)))
    return turns


def _recipients(spans: pl.DataFrame) -> set[str]:
    """Recipient ids, or the destinations of sends that carry no recipient list."""
    named = {r for rs in spans["recipients"].to_list() for r in (rs or [])}
    unnamed = spans.filter(pl.col("recipients").list.len() == 0)["destination"].to_list()
    return named | {f"destination:{d}" for d in unnamed if d}
