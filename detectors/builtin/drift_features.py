"""Per-agent behaviour vectors for the drift detector: what an agent did in one window, as
numbers that do not depend much on how busy it was (shares and per-turn rates, logs of counts).
"""

from __future__ import annotations

import math

import polars as pl

from detectors.fleet import FleetDirectory

KINDS = ("read", "write", "execute", "send", "delete")
FEATURES = (
    "log_turns", *(f"share_{k}" for k in KINDS), "tools_per_turn", "log_tokens_per_chat",
    "error_rate", "log_recipients", "log_principals", "share_non_owner", "sends_per_turn",
)
# Smallest spread assumed per feature, so a very regular agent does not alarm on small steps.
MIN_STD = {name: (0.15 if name.startswith("share") or name == "error_rate" else 0.5) for name in FEATURES}


def behaviour_vectors(
    turns: pl.DataFrame, tools: pl.DataFrame, chats: pl.DataFrame, sends: pl.DataFrame,
    directory: FleetDirectory, min_turns: int,
) -> dict[str, list[float]]:
    """agent -> feature vector (in FEATURES order), for agents with at least ``min_turns`` turns."""
    vectors: dict[str, list[float]] = {}
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
        recipients = {r for row in out["recipients"].to_list() for r in row}
        vectors[agent] = [
            math.log1p(n_turns), *(share.get(k, 0.0) for k in KINDS), acts.height / n_turns,
            math.log1p(tokens / max(1, talk.height)), failures / max(1, acts.height + talk.height),
            math.log1p(len(recipients)), math.log1p(len(set(principals))),
            sum(1 for p in principals if owners and p not in owners) / n_turns,
            out.height / n_turns,
        ]
    return vectors
