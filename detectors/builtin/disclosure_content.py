"""What leaves an agent toward non-owners, with the kinds of sensitive data it carries, and the
refusals that came before. Kinds only: the matched values never leave this module."""

from __future__ import annotations

import polars as pl

from detectors.builtin import frames
from detectors.builtin.util import matches_any, matching_names
from detectors.context import EvalContext
from detectors.fleet import FleetDirectory

_OUT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Int64(), "trace": pl.String(), "span": pl.String(), "agent": pl.String(),
    "audience": pl.String(), "kinds": pl.List(pl.String()), "outsider_turn": pl.Boolean(),
}


def outbound_content(ctx: EvalContext, turn_frame: pl.DataFrame, directory: FleetDirectory,
                     sensitive: dict[str, str]) -> pl.DataFrame:
    """One row per outbound span with sensitive content whose audience is not an owner."""
    rows: list[tuple[object, ...]] = []
    # Most content is not sensitive: the regex engine drops it first, so the per-row Python
    # below (who is the audience, which kinds) runs only on the few spans that match.
    hit = list(sensitive.values())
    sends = frames.with_instructor(frames.sends(ctx), turn_frame).filter(
        (pl.col("text") != "") & matches_any("text", hit))
    for row in sends.iter_rows(named=True):
        audience = _audience(directory, row["agent"], row["instructor"], row["recipients"] or [])
        if audience is not None:
            rows += _if_sensitive(row, row["text"], audience, directory, sensitive)
    tool_sends = frames.with_instructor(frames.tools(ctx), turn_frame).filter(
        (pl.col("kind") == "send") & (pl.col("arguments") != "") & matches_any("arguments", hit))
    for row in tool_sends.iter_rows(named=True):
        audience = _audience(directory, row["agent"], row["instructor"], [row["target"]])
        if audience is not None:
            rows += _if_sensitive(row, row["arguments"], audience, directory, sensitive)
    answers = frames.with_instructor(frames.chats(ctx), turn_frame).filter(
        (pl.col("text") != "") & matches_any("text", hit))
    for row in answers.iter_rows(named=True):
        if directory.is_outsider(row["agent"], row["instructor"]):
            rows += _if_sensitive(row, row["text"], row["instructor"], directory, sensitive)
    return pl.DataFrame(rows, schema=_OUT_SCHEMA, orient="row")


def refusals(ctx: EvalContext, turn_frame: pl.DataFrame, patterns: tuple[str, ...]) -> pl.DataFrame:
    """Model answers and replies that refuse, with the principal of their turn."""
    said = pl.concat([
        frames.chats(ctx).select("ts", "trace", "span", "agent", "text"),
        frames.sends(ctx).select("ts", "trace", "span", "agent", "text"),
    ]).filter(pl.col("text") != "")
    refused = said.filter(matches_any("text", patterns))
    roots = turn_frame.select("trace", "principal").unique("trace")
    return refused.join(roots, on="trace", how="inner").select("ts", "trace", "span", "agent", "principal")


def _audience(directory: FleetDirectory, agent: str, instructor: str, recipients: list[str]) -> str | None:
    """Who outside the owners receives it: the non-owner who asked, else the first outsider."""
    if not directory.knows_owners(agent):
        return None  # nobody can be called a non-owner
    if directory.is_outsider(agent, instructor):
        return instructor
    outsiders = sorted(r for r in recipients if r and not directory.may_instruct(agent, r))
    return outsiders[0] if outsiders else None


def _if_sensitive(row: dict[str, object], text: object, audience: str, directory: FleetDirectory,
                  sensitive: dict[str, str]) -> list[tuple[object, ...]]:
    kinds = matching_names(sensitive, str(text))
    if not kinds:
        return []
    outsider = directory.is_outsider(str(row["agent"]), str(row["instructor"]))
    return [(row["ts"], row["trace"], row["span"], row["agent"], audience, sorted(kinds), outsider)]
