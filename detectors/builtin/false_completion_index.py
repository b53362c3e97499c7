"""What the false-completion checks read, fetched and indexed once per window.

A 15-minute window at 10,000 spans/s holds tens of thousands of completion claims, almost all
true. Reading every turn and tool call with their message texts, then checking each claim alone,
took 14 s a window; so the queries fetch only the columns and spans the checks can concern, and
``ClaimEvidence.suspicious`` keeps, with a few joins over all claims at once, the claims some
check might contradict. The detector then judges those one by one as before.
"""

from __future__ import annotations

import polars as pl

from detectors.builtin import frames
from detectors.builtin.frames import GUESSED_KIND
from detectors.context import WHOLE_MAPS, EvalContext

# The window's claims; the tool calls of the claiming turns, every process stop and any action
# on a claimed subject; the sends of the claiming turns.
_CLAIMED = (
    "SELECT TraceId FROM otel_traces WHERE {window} AND Operation = 'invoke_agent'"
    " AND SpanAttributes['fleet.claim'] = 'completed'"
)
CLAIMS_SQL = """
SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent,
       toInt64(Duration) AS duration, PrincipalId AS principal,
       SpanAttributes['fleet.claim.subject'] AS claim_subject
FROM otel_traces
WHERE {window} AND Operation = 'invoke_agent' AND SpanAttributes['fleet.claim'] = 'completed'
ORDER BY ts
""" + WHOLE_MAPS
ACTS_SQL = f"""
SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent,
       ToolName AS tool, {GUESSED_KIND} AS kind, SpanAttributes['fleet.action.target'] AS target,
       toBool(StatusCode = 'STATUS_CODE_ERROR' OR SpanAttributes['error.type'] != '') AS failed,
       SpanAttributes['fleet.process.id'] AS process,
       SpanAttributes['fleet.process.state'] AS process_state
FROM otel_traces
WHERE {{window}} AND Operation = 'execute_tool' AND (
    TraceId IN ({_CLAIMED})
    OR SpanAttributes['fleet.process.state'] = 'stopped'
    OR (SpanAttributes['fleet.action.target'] != '' AND SpanAttributes['fleet.action.target'] IN (
        SELECT SpanAttributes['fleet.claim.subject'] FROM otel_traces
        WHERE {{window}} AND Operation = 'invoke_agent'
          AND SpanAttributes['fleet.claim'] = 'completed')))
ORDER BY ts
{WHOLE_MAPS}
"""
SENDS_SQL = f"""
SELECT TraceId AS trace,
       JSONExtract(SpanAttributes['fleet.message.recipients'], 'Array(String)') AS recipients,
       SpanAttributes['messaging.destination.name'] AS destination
FROM otel_traces
WHERE {{window}} AND Operation = 'send' AND TraceId IN ({_CLAIMED})
{WHOLE_MAPS}
"""


def window_claims(ctx: EvalContext) -> pl.DataFrame:
    """CLAIMS_SQL's rows: from the span tail's turns when it holds them (no query), else queried."""
    turns = ctx.held(frames.TURNS_SQL)
    if turns is None:
        return ctx.frame(CLAIMS_SQL)
    return turns.filter(pl.col("claim") == "completed").select(
        "ts", "trace", "span", "agent", "duration", "principal", "claim_subject")


def claim_evidence(ctx: EvalContext) -> ClaimEvidence:
    """ACTS_SQL's and SENDS_SQL's rows, likewise, indexed."""
    turns, tools, sends = (ctx.held(sql) for sql in (frames.TURNS_SQL, frames.TOOLS_SQL, frames.SENDS_SQL))
    if turns is None or tools is None or sends is None:
        return ClaimEvidence(ctx.frame(ACTS_SQL), ctx.frame(SENDS_SQL))
    claims = turns.filter(pl.col("claim") == "completed")
    claimed, subjects = claims["trace"].unique(), claims["claim_subject"].unique()
    acts = tools.filter(
        pl.col("trace").is_in(claimed) | (pl.col("process_state") == "stopped")
        | ((pl.col("target") != "") & pl.col("target").is_in(subjects))
    ).select("ts", "trace", "span", "agent", "tool", "kind", "target", "failed", "process", "process_state")
    return ClaimEvidence(acts, sends.filter(pl.col("trace").is_in(claimed)).select(
        "trace", "recipients", "destination"))


class ClaimEvidence:
    """The window's tool calls and sends, indexed once for all claims."""

    def __init__(self, acts: pl.DataFrame, sends: pl.DataFrame) -> None:
        self.all_acts, self.all_sends = acts, sends
        self.empty_acts, self.empty_sends = acts.clear(), sends.clear()
        self.stopped = acts.filter(pl.col("process_state") == "stopped")["process"].unique()
        self.acts: dict[str, pl.DataFrame] = {}
        self.sends: dict[str, pl.DataFrame] = {}
        self.by_target: dict[str, pl.DataFrame] = {}

    def suspicious(self, claims: pl.DataFrame) -> pl.DataFrame:
        """The claims some check might contradict (a superset, judged one by one after): in a
        benign fleet almost every claim is true, and checking each alone costs milliseconds."""
        acts, sends = self.all_acts, self.all_sends
        keys = claims.select("trace", "agent", "ts", pl.col("claim_subject").alias("subject"))
        ok = acts.filter(~pl.col("failed"))
        touched = pl.concat([
            ok.select("trace", pl.col("target").alias("subject")),
            ok.select("trace", pl.col("process").alias("subject")),
            sends.select("trace", pl.col("destination").alias("subject")),
            sends.select("trace", pl.col("recipients").alias("subject")).explode("subject"),
        ]).filter(pl.col("subject").is_not_null() & (pl.col("subject") != "")).unique()
        with_subject = keys.filter(pl.col("subject") != "")
        # As _observed_after: a turn that acted on its subject without deleting it is not
        # contradicted by others seeing the subject; the rest are, by any later sighting.
        kept = (
            ok.select("trace", pl.col("target").alias("subject"), (pl.col("kind") == "delete").alias("d"))
            .join(with_subject.select("trace", "subject").unique(), on=["trace", "subject"], how="semi")
            .group_by("trace", "subject").agg(pl.col("d").any()).filter(~pl.col("d"))
        )
        later = (
            ok.filter(pl.col("kind") != "delete").group_by("target", "agent").agg(pl.col("ts").max())
            .select(pl.col("target").alias("subject"), pl.col("agent").alias("other"),
                    pl.col("ts").alias("seen"))
        )
        flagged = pl.concat([
            unresolved(acts).select("trace"),
            acts.filter((pl.col("process_state") == "started") & (pl.col("process") != "")
                        & ~pl.col("process").is_in(self.stopped)).select("trace"),
            with_subject.join(touched, on=["trace", "subject"], how="anti").select("trace"),
            with_subject.join(kept, on=["trace", "subject"], how="anti").join(later, on="subject").filter(
                (pl.col("other") != pl.col("agent")) & (pl.col("seen") > pl.col("ts"))).select("trace"),
        ]).unique()
        chosen = claims.join(flagged, on="trace", how="semi")
        self._index(chosen)
        return chosen

    def _index(self, claims: pl.DataFrame) -> None:
        acts = self.all_acts.join(claims.select("trace").unique(), on="trace", how="semi")
        sends = self.all_sends.join(claims.select("trace").unique(), on="trace", how="semi")
        self.acts = {str(k[0]): f for k, f in acts.partition_by("trace", as_dict=True).items()}
        self.sends = {str(k[0]): f for k, f in sends.partition_by("trace", as_dict=True).items()}
        survivors = self.all_acts.filter(
            ~pl.col("failed") & (pl.col("kind") != "delete") & (pl.col("target") != "")
            & pl.col("target").is_in(claims["claim_subject"].unique()))
        self.by_target = {str(k[0]): f for k, f in survivors.partition_by("target", as_dict=True).items()}

    def of_turn(self, trace: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        return self.acts.get(trace, self.empty_acts), self.sends.get(trace, self.empty_sends)


def unresolved(acts: pl.DataFrame) -> pl.DataFrame:
    """Failed tool calls with no later success of the same tool on the same target in their
    trace (``_failed_not_retried`` for every trace at once)."""
    failed = acts.filter(pl.col("failed"))
    ok = acts.filter(~pl.col("failed")).select("trace", "tool", "target", pl.col("ts").alias("ok_ts"))
    retried = failed.join(ok, on=["trace", "tool", "target"]).filter(pl.col("ok_ts") > pl.col("ts"))
    return failed.join(retried.select("span"), on="span", how="anti")
