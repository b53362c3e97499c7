"""The takeover detector's signals: capture of one agent, steering of many."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from detectors.builtin.util import evidence, first_ts, matches_any, plural
from detectors.fleet import FleetDirectory
from detectors.model import Candidate
from detectors.policy import Policy

if TYPE_CHECKING:
    from detectors.builtin.takeover import TakeoverParams


def privileged_actions(acts: pl.DataFrame, policy: Policy, bulk_records: int) -> pl.DataFrame:
    """Successful tool calls that change or export something, with a short label each."""
    identity = matches_any("target", policy.patterns.identity_files)
    label = (
        pl.when(pl.col("kind") == "delete").then(pl.lit("destructive action"))
        .when((pl.col("kind") == "write") & identity).then(pl.lit("identity/config write"))
        .when(pl.col("kind") == "execute").then(pl.lit("command execution"))
        .when(pl.col("kind") == "send").then(pl.lit("outbound transfer"))
        .when((pl.col("kind") == "read") & (pl.col("records") >= bulk_records)).then(pl.lit("bulk read"))
        .otherwise(pl.lit(""))
    )
    return acts.filter(~pl.col("failed")).with_columns(label.alias("privilege")).filter(
        pl.col("privilege") != "")


def captures(turn_frame: pl.DataFrame, privileged: pl.DataFrame, replied: set[str],
             directory: FleetDirectory, p: TakeoverParams) -> list[Candidate]:
    people = turn_frame.filter((pl.col("principal") != "")
                               & ~pl.col("principal").is_in(list(directory.principal_to_agent)))
    # Each agent's turns apart, answered or not marked once: filtering the whole window's turns
    # per agent, with the replied traces rebuilt as a literal each time, took over ten minutes
    # per full window at 10,000 spans/s.
    people = people.with_columns(pl.col("trace").is_in(pl.Series(list(replied), dtype=pl.String)
                                                       .implode()).alias("replied"))
    turns_of = people.partition_by("agent", as_dict=True)
    privileged_of = privileged.partition_by("agent", as_dict=True)
    found = []
    # Only the busiest outsider per agent can be its captor: the neglect is not shared out.
    busiest = (people.group_by("agent", "principal").len().sort("len", descending=True)
               .filter(directory.outsider("principal", peers=False))
               .unique("agent", keep="first"))
    for agent, principal, turns in busiest.rows():
        if turns < p.min_turns:
            continue
        everyone = turns_of[(agent,)]
        mine = everyone.filter(pl.col("principal") == principal)
        share = mine.height / everyone.height
        start, end = int(mine["ts"].min()), int(mine["ts"].max())  # type: ignore[arg-type]
        others = everyone.filter((pl.col("principal") != principal) & pl.col("ts").is_between(start, end))
        ignored = others.filter(~pl.col("replied"))
        answered = mine.filter(pl.col("replied")).height
        conceded = privileged_of.get((agent,), privileged.clear()).filter(
            pl.col("trace").is_in(mine["trace"].implode()))
        score = p.weight_persistence
        reasons = [f"{principal} sent {mine.height} of its {everyone.height} instructions ({share:.0%})"]
        if share >= p.dominance_share:
            score += p.weight_dominance
        if ignored.height >= p.min_ignored and answered * 2 >= mine.height:
            score += p.weight_neglect
            reasons.append(f"{ignored.height} of {others.height} requests from other people went "
                           f"unanswered meanwhile, while {answered} of {principal}'s were answered")
        if not conceded.is_empty():
            score += p.weight_concession * min(3, conceded.height)
            reasons.append(f"it conceded {_summary(conceded)} on {principal}'s word")
        if score >= p.weight_persistence + p.weight_dominance + p.weight_concession:
            proof = pl.concat([mine.select("ts", "trace", "span"), conceded.select("ts", "trace", "span"),
                               ignored.select("ts", "trace", "span")])
            found.append(Candidate(
                key=f"capture:{agent}|{principal}", score=score,
                title=f"{principal} has captured {agent}",
                explanation=f"{agent} is dominated by non-owner {principal}: {'; '.join(reasons)}.",
                agents=(agent,), principals=(principal,), evidence=evidence(proof),
                first_event_ns=first_ts(mine), labels={"share": f"{share:.2f}",
                                                       "ignored": str(ignored.height)},
            ))
    return found


def steering(acts: pl.DataFrame, privileged: pl.DataFrame, directory: FleetDirectory,
             p: TakeoverParams) -> list[Candidate]:
    found = []
    by_person = privileged.filter(directory.outsider("instructor", peers=False))
    for (principal,), done in by_person.group_by(["instructor"], maintain_order=True):
        found += _steered(f"steer:{principal}", f"non-owner {principal}", done, (str(principal),), p)
    fetched = acts.filter(pl.col("target").str.starts_with("url:") & ~pl.col("failed")).select(
        "trace", pl.col("target").alias("document")).unique()
    unasked = privileged.filter(~pl.col("instructor").is_in(
        [o for info in directory.agents.values() for o in info.owners | info.authorised]))
    for (document,), done in unasked.join(fetched, on="trace").group_by(["document"], maintain_order=True):
        found += _steered(f"document:{document}", f"the document {document}", done, (), p)
    return found


def _steered(key: str, source: str, done: pl.DataFrame, principals: tuple[str, ...],
             p: TakeoverParams) -> list[Candidate]:
    agents = tuple(sorted(set(done["agent"].to_list())))
    if len(agents) < 2:
        return []
    return [Candidate(
        key=key, score=p.weight_per_agent * len(agents),
        title=f"{source} is steering {len(agents)} agents",
        explanation=(f"{source} got privileged work out of {len(agents)} agents "
                     f"({', '.join(agents)}): {_summary(done)}."),
        agents=agents, principals=principals, evidence=evidence(done), first_event_ns=first_ts(done),
        labels={"steered_agents": str(len(agents))},
    )]


def _summary(actions: pl.DataFrame) -> str:
    counts = actions.group_by("privilege").len().sort("privilege").rows()
    return ", ".join(plural(int(n), str(label)) for label, n in counts)
