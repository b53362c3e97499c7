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
from collections.abc import Mapping
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


# Where a mention came from, to keep the order of mentions at one instant: acts (0) before
# sends (1), row by row, and within an act its target (0) before the URLs in its text (1).
_MENTION = ("agent", "ts", "trace", "span", "instructor", "_source", "_row")
_HOLDING_COLUMNS = ("agent", "item", "ts", "trace", "span", "instructor", "used", "from_target")


def holdings(acts: pl.DataFrame, sends: pl.DataFrame) -> pl.DataFrame:
    """(agent, item, ts, trace, span, instructor, used, from_target) per mention of an item,
    by time. Whole columns at once: a Python loop over every tool call and message of an
    hour's window held the GIL for tens of seconds per full window."""
    acts = acts.with_row_index("_row").with_columns(_source=pl.lit(0))
    sends = sends.with_row_index("_row").with_columns(_source=pl.lit(1))
    targets = acts.filter(pl.col("target").str.starts_with("url:")).select(
        *_MENTION, pl.col("target").alias("item"), used=pl.lit(True), from_target=pl.lit(True),
        _sub=pl.lit(0))
    act_text = pl.concat_str([pl.col("arguments").fill_null(""), pl.col("result").fill_null("")],
                             separator=" ")
    said = _urls(sends, pl.col("text").fill_null(""), used=False)
    mentions = pl.concat([targets, _urls(acts, act_text, used=True), said], how="vertical_relaxed")
    return (mentions.with_columns(pl.col("item").str.strip_chars_end(".,;:"))
            .sort("_source", "_row", "_sub", maintain_order=True).sort("ts", maintain_order=True)
            .select(*_HOLDING_COLUMNS))


def _urls(rows: pl.DataFrame, text: pl.Expr, *, used: bool) -> pl.DataFrame:
    """One row per URL found in ``text`` of each row (rows keep their order, URLs theirs)."""
    found = rows.select(*_MENTION, text.str.extract_all(URL.pattern).alias("item")).explode("item")
    return found.filter(pl.col("item").is_not_null()).select(
        *_MENTION, ("url:" + pl.col("item")).alias("item"), used=pl.lit(used),
        from_target=pl.lit(False), _sub=pl.lit(1))


def lineages(held: pl.DataFrame, principal_to_agent: Mapping[str, str]) -> list[Lineage]:
    found = []
    # An item only one agent mentions has no lineage: most items, left out before the loop.
    shared = held.filter(pl.col("agent").n_unique().over("item") >= 2)
    for (item,), mentions in shared.group_by(["item"], maintain_order=True):
        lineage = _trace_item(str(item), mentions.sort("ts", maintain_order=True), principal_to_agent)
        if lineage is not None:
            found.append(lineage)
    return found


def _trace_item(item: str, mentions: pl.DataFrame, principal_to_agent: Mapping[str, str]) -> Lineage | None:
    """The lineage of one item mentioned by at least two agents, if it has exactly one origin."""
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
