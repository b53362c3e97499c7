"""Lineage of practices across agents: where an item (a URL, a script's address) was first
held, and which agents adopted it in the turn that handled a message from an agent holding it.

An agent *holds* an item when one of its tool calls targets it or names it (arguments, result)
or a message it sent names it; it *adopts* it when a tool call uses the item inside a turn
whose principal is another agent's own principal id (a message from that agent), sent after
that agent held it. Items with several independent origins are the fleet's common tools (a
shared feed, a wiki) and are not lineages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

URL = re.compile(r"https?://[^\s'\"\\<>)\]]+")


@dataclass
class Step:
    agent: str
    ts: int
    trace: str
    span: str
    instructor: str  # the turn's principal ("" for heartbeats and crons)
    adopted_from: str = ""  # the agent whose message it acted on; "" for the origin
    used: bool = False  # a tool call used it (not only a message naming it)


@dataclass
class Lineage:
    item: str
    from_target: bool  # seen in fleet.action.target (not opt-in content)
    steps: list[Step] = field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return [s.agent for s in self.steps]


def holdings(acts: pl.DataFrame, sends: pl.DataFrame) -> pl.DataFrame:
    """(agent, item, ts, trace, span, instructor, used, from_target) per mention of an item."""
    rows: list[tuple[object, ...]] = []
    for r in acts.iter_rows(named=True):
        target = str(r["target"])
        if target.startswith("url:"):
            rows.append(_row(r, target, used=True, from_target=True))
        for url in URL.findall(f"{r['arguments']} {r['result']}"):
            rows.append(_row(r, f"url:{url}", used=True, from_target=False))
    for r in sends.iter_rows(named=True):
        for url in URL.findall(str(r["text"])):
            rows.append(_row(r, f"url:{url}", used=False, from_target=False))
    schema = {"agent": pl.String(), "item": pl.String(), "ts": pl.Int64(), "trace": pl.String(),
              "span": pl.String(), "instructor": pl.String(), "used": pl.Boolean(),
              "from_target": pl.Boolean()}
    return pl.DataFrame(rows, schema=schema, orient="row").sort("ts")


def _row(r: dict[str, object], item: str, *, used: bool, from_target: bool) -> tuple[object, ...]:
    return (r["agent"], item.rstrip(".,;:"), r["ts"], r["trace"], r["span"], r["instructor"],
            used, from_target)


def lineages(held: pl.DataFrame, principal_to_agent: dict[str, str]) -> list[Lineage]:
    found = []
    for (item,), mentions in held.group_by(["item"], maintain_order=True):
        lineage = _trace_item(str(item), mentions.sort("ts"), principal_to_agent)
        if lineage is not None:
            found.append(lineage)
    return found


def _trace_item(item: str, mentions: pl.DataFrame, principal_to_agent: dict[str, str]) -> Lineage | None:
    if mentions["agent"].n_unique() < 2:
        return None
    lineage = Lineage(item, bool(mentions["from_target"].any()))
    held_since: dict[str, int] = {}
    origins = 0
    for r in mentions.iter_rows(named=True):
        agent = str(r["agent"])
        if agent in held_since:
            step = next(s for s in lineage.steps if s.agent == agent)
            step.used = step.used or bool(r["used"])  # said first, acted on it later
            continue
        sender = principal_to_agent.get(str(r["instructor"]), "")
        adopted = sender in held_since and held_since[sender] <= int(r["ts"])
        if not adopted:
            origins += 1
        held_since[agent] = int(r["ts"])
        lineage.steps.append(Step(agent, int(r["ts"]), str(r["trace"]), str(r["span"]),
                                  str(r["instructor"]), sender if adopted else "", bool(r["used"])))
    if origins != 1:
        return None  # several independent users: a common tool, or unrelated uses
    # Knowledge passed on but never acted on is sharing, not propagation.
    return lineage if any(s.adopted_from and s.used for s in lineage.steps) else None
