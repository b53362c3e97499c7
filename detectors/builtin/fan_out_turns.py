"""Distinct recipients per turn, with who asked for the turn and what triggered it."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Sparse instrumentation drops fleet.trigger; the simulator and most frameworks still name the
# system channel a cron tick or heartbeat arrives on.
_CHANNEL_TRIGGERS = {"system:cron": "cron", "system:heartbeat": "heartbeat"}
_COLUMNS = ("agent", "trace", "principal", "trigger", "urgent", "reach", "peers")  # as TurnFanOut


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
                     agent_principals: set[str]) -> pl.DataFrame:
    """One row per turn whose root is in the window (a turn cut off at the window start is
    judged in an earlier window, where its instructor is known), with the columns of
    ``TurnFanOut``. Vectorised: a 10-minute window at 10,000 spans/s holds tens of thousands of
    turns with sends; ``as_turns`` makes objects of the rows a caller still needs."""
    roots = turn_frame.select(
        "trace", "principal", "urgent",
        pl.when(pl.col("trigger") != "").then(pl.col("trigger"))
        .otherwise(pl.col("channel").replace_strict(_CHANNEL_TRIGGERS, default=""))
        .alias("trigger"),
    ).unique("trace", keep="first")
    sends = send_frame.join(roots, on="trace", how="inner")
    others = pl.concat_list(pl.col("principal"), pl.lit(""))  # the instructor is not reached
    per_turn = sends.with_columns(_reached()).group_by(["agent", "trace"], maintain_order=True).agg(
        pl.col("principal").first(), pl.col("trigger").first(), pl.col("urgent").first(),
        pl.col("reached").list.explode(keep_nulls=False, empty_as_null=False),
    ).with_columns(
        pl.col("reached").list.drop_nulls().list.set_difference(others).alias("reached"),
    ).with_columns(
        reach=pl.col("reached").list.len(),
        peers=pl.col("reached").list.eval(pl.element().is_in(sorted(agent_principals))).list.sum(),
    )
    return per_turn.select(_COLUMNS)


def as_turns(per_turn: pl.DataFrame) -> list[TurnFanOut]:
    return [TurnFanOut(str(a), str(t), str(p), str(g), bool(u), int(r), int(n))
            for a, t, p, g, u, r, n in per_turn.select(_COLUMNS).iter_rows()]


def _reached() -> pl.Expr:
    """Per send: its recipient ids, or its destination when it carries no recipient list."""
    destination = pl.concat_list(pl.lit("destination:") + pl.col("destination"))
    return (
        pl.when(pl.col("recipients").list.len() > 0).then(pl.col("recipients"))
        .when((pl.col("recipients").list.len() == 0) & (pl.col("destination") != "")).then(destination)
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias("reached")
    )
