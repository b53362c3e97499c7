"""Per-agent behaviour vectors for the drift detector: what an agent did in one window, as
numbers that do not depend much on how busy it was (shares and per-turn rates, logs of counts),
including how much of it involved people nobody in the fleet had dealt with before (novelty,
against the principals and recipients the detector's baseline already knows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from detectors.fleet import FleetDirectory

KINDS = ("read", "write", "execute", "send", "delete")
FEATURES = (
    "log_turns", *(f"share_{k}" for k in KINDS), "tools_per_turn", "log_tokens_per_chat",
    "error_rate", "recipients_per_turn", "principals_per_turn", "share_non_owner", "sends_per_turn",
    "share_new_principals", "share_new_recipients", "share_new_tools",
)
# Smallest spread assumed per feature, so a very regular agent does not alarm on small steps.
MIN_STD = {name: (0.15 if name.startswith("share") else 0.5) for name in FEATURES}
# Novelty is near zero for a settled agent: a smaller floor lets a clear rise register. An
# agent's error rate is a few percent and varies by about 0.01-0.02 from hour to hour (binomial
# noise at tens of calls an hour): a floor of 0.15 hid a tenth of its calls failing.
MIN_STD |= {"share_new_principals": 0.1, "share_new_recipients": 0.1, "share_new_tools": 0.1,
            "error_rate": 0.03}


@dataclass(frozen=True)
class Behaviour:
    vector: list[float]  # in FEATURES order
    principals: frozenset[str]  # who instructed the agent in the window
    recipients: frozenset[str]  # whom it sent messages to
    tools: frozenset[str]  # the tools it called


@dataclass(frozen=True)
class Known:
    """Whom the fleet has dealt with, and which tools it has used, in ordinary windows."""

    principals: set[str]
    recipients: set[str]
    tools: set[str] | None  # None while the agent is warming up: every tool would be new


def recipients_of(sends: pl.DataFrame) -> set[str]:
    """Everyone the sends went to; a send without the recipients attribute (sparse
    instrumentation) still names its destination."""
    return {r for listed, destination in sends.select("recipients", "destination").rows()
            for r in (listed or ([destination] if destination else []))}


def behaviour_vectors(
    turns: pl.DataFrame, tools: pl.DataFrame, chats: pl.DataFrame, sends: pl.DataFrame,
    directory: FleetDirectory, min_turns: int, known: Callable[[str], Known],
) -> dict[str, Behaviour]:
    """agent -> its behaviour in the window, for agents with at least ``min_turns`` turns."""
    vectors: dict[str, Behaviour] = {}
    # Fleet agents are colleagues, not strangers: a first exchange with a peer is not novelty.
    peers = set(directory.principal_to_agent)
    for (agent,), mine in turns.group_by("agent"):
        if mine.height < min_turns:
            continue
        agent = str(agent)
        acts = tools.filter(pl.col("agent") == agent)
        talk = chats.filter(pl.col("agent") == agent)
        out = sends.filter(pl.col("agent") == agent)
        owners = directory.owners(agent)
        principals = [p for p in mine["principal"].to_list() if p]
        n_turns, n_tools = mine.height, max(1, acts.height)
        kinds = acts["kind"].value_counts()
        share = {str(k): int(c) / n_tools for k, c in kinds.rows()}
        tokens = float(talk["input_tokens"].cast(pl.Float64).sum())
        tokens += float(talk["output_tokens"].cast(pl.Float64).sum())
        failures = int(acts["failed"].sum()) + int(talk["failed"].sum())
        recipients = recipients_of(out)
        used = acts["tool"].to_list()
        seen = known(agent)
        vector = [
            math.log1p(n_turns), *(share.get(k, 0.0) for k in KINDS), acts.height / n_turns,
            math.log1p(tokens / max(1, talk.height)), failures / max(1, acts.height + talk.height),
            # Distinct people per turn (log): a quiet stretch has fewer of them in absolute
            # terms, which is volume (log_turns), not a change in whom the agent deals with.
            math.log((1 + len(recipients)) / (1 + n_turns)),
            math.log((1 + len(set(principals))) / (1 + n_turns)),
            sum(1 for p in principals if owners and p not in owners) / n_turns,
            out.height / n_turns,
            sum(1 for p in principals if p not in seen.principals and p not in peers) / n_turns,
            len(recipients - seen.recipients - peers) / max(1, len(recipients)),
            # Tools nobody in the fleet used in an ordinary window (renamed or foreign tools); a
            # tool rolled out to everyone at once is the fleet's change, which the model takes out.
            sum(1 for t in used if t not in seen.tools) / max(1, len(used)) if seen.tools is not None
            else 0.0,
        ]
        vectors[agent] = Behaviour(vector, frozenset(principals), frozenset(recipients), frozenset(used))
    return vectors
