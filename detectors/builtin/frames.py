"""Shared window queries, one per span family (turns, tool calls, sends, model calls).

Each returns a polars frame with the same column names whatever detector asks, so detector
logic reads like the conventions (docs/conventions.md). ``kind`` falls back to a guess from the
tool name when ``fleet.action.kind`` is missing (sparse instrumentation, renamed tools).

Each family's columns are written once (``SharedFrame``): the window query detectors run and
the query the engine's span tail (detectors/tail.py) reads new rows with (``rows_sql``, all
families at once) are both built from them, so a frame read from the tail has the columns and
types of one read from ClickHouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from detectors.context import WHOLE_MAPS, EvalContext

_COMMON = (
    "toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent"
)


@dataclass(frozen=True)
class SharedFrame:
    """A span family: its columns (after ts, trace, span, agent; each ``<expression> AS <alias>``)
    and which spans belong to it."""

    name: str
    columns: tuple[str, ...]
    spans: str  # the condition on the spans' operation

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(column.rsplit(" AS ", 1)[1].strip() for column in self.columns)

    @property
    def window_sql(self) -> str:
        return (f"SELECT {_COMMON}, {', '.join(self.columns)}\nFROM otel_traces"
                f" WHERE {{window}} AND {self.spans}\nORDER BY ts\n{WHOLE_MAPS}")


def rows_sql(shared: tuple[SharedFrame, ...]) -> str:
    """Every shared frame's columns for any rows (``{rows}``) in one query, led by ``tenant``,
    ``ingested`` and ``frame`` (the family's name); each family's columns are prefixed with its
    name (``turns__principal``). One read of the new rows serves every frame the span tail
    keeps: the rows' attribute maps are read once, and the query waits once behind an insert."""
    tag = "multiIf(" + ", ".join(f"{f.spans}, '{f.name}'" for f in shared) + ", '')"
    columns = [f"{column.rsplit(' AS ', 1)[0]} AS {f.name}__{alias}"
               for f in shared for column, alias in zip(f.columns, f.aliases, strict=True)]
    return (f"SELECT TenantId AS tenant, toUnixTimestamp64Nano(IngestedAt) AS ingested,"
            f" {tag} AS frame, {_COMMON},\n       " + ",\n       ".join(columns)
            + "\nFROM otel_traces WHERE ({rows}) AND ("
            + " OR ".join(f"({f.spans})" for f in shared) + f")\n{WHOLE_MAPS}")


GUESSED_KIND = """multiIf(
    SpanAttributes['fleet.action.kind'] != '', SpanAttributes['fleet.action.kind'],
    match(lower(ToolName), '(delete|remove|expunge|wipe|reset|purge|^rm$|kick|drop)'), 'delete',
    match(lower(ToolName), '(shell|bash|exec|terminal|^sh\\\\.|run)'), 'execute',
    match(lower(ToolName), '(send|post|publish|smtp)'), 'send',
    match(lower(ToolName), '(write|edit|push|upload|transfer|add|create|order|submit)'), 'write',
    'read')"""

_FAILED = "toBool(StatusCode = 'STATUS_CODE_ERROR' OR SpanAttributes['error.type'] != '') AS failed"

TURNS = SharedFrame("turns", (
    "toInt64(Duration) AS duration", "PrincipalId AS principal",
    "PrincipalName AS principal_name", "Channel AS channel",
    "SpanAttributes['fleet.trigger'] AS trigger",
    "SpanAttributes['gen_ai.conversation.id'] AS conversation",
    "toBool(SpanAttributes['fleet.instruction.urgent'] = 'true') AS urgent",
    "SpanAttributes['fleet.claim'] AS claim",
    "SpanAttributes['fleet.claim.subject'] AS claim_subject",
    "SpanAttributes['gen_ai.input.messages'] AS input_text"), "Operation = 'invoke_agent'")

TOOLS = SharedFrame("tools", (
    "ToolName AS tool", f"{GUESSED_KIND} AS kind",
    "SpanAttributes['fleet.action.target'] AS target",
    _FAILED, "SpanAttributes['error.type'] AS error_type",
    "toUInt64OrZero(SpanAttributes['fleet.resource.bytes']) AS bytes",
    "toUInt64OrZero(SpanAttributes['fleet.records.count']) AS records",
    "SpanAttributes['fleet.process.id'] AS process",
    "SpanAttributes['fleet.process.state'] AS process_state",
    "SpanAttributes['gen_ai.tool.call.arguments'] AS arguments",
    "SpanAttributes['gen_ai.tool.call.result'] AS result"), "Operation = 'execute_tool'")

SENDS = SharedFrame("sends", (
    "JSONExtract(SpanAttributes['fleet.message.recipients'], 'Array(String)') AS recipients",
    "SpanAttributes['messaging.destination.name'] AS destination",
    "SpanAttributes['messaging.system'] AS system",
    "concat(SpanAttributes['gen_ai.output.messages'], SpanAttributes['gen_ai.input.messages'])"
    " AS text"), "Operation = 'send'")

CHATS = SharedFrame("chats", (
    "SpanAttributes['gen_ai.provider.name'] AS provider", "SpanAttributes['fleet.topic'] AS topic",
    _FAILED, "SpanAttributes['error.type'] AS error_type",
    "SpanAttributes['gen_ai.response.finish_reasons'] AS finish",
    "InputTokens AS input_tokens", "OutputTokens AS output_tokens",
    "SpanAttributes['gen_ai.output.messages'] AS text"),
    "Operation IN ('chat', 'text_completion', 'generate_content')")

SHARED = (TURNS, TOOLS, SENDS, CHATS)  # what the engine's span tail keeps
TURNS_SQL, TOOLS_SQL, SENDS_SQL, CHATS_SQL = (f.window_sql for f in SHARED)


def turns(ctx: EvalContext) -> pl.DataFrame:
    return ctx.frame(TURNS_SQL)


def tools(ctx: EvalContext) -> pl.DataFrame:
    return ctx.frame(TOOLS_SQL)


def sends(ctx: EvalContext) -> pl.DataFrame:
    return ctx.frame(SENDS_SQL)


def chats(ctx: EvalContext) -> pl.DataFrame:
    return ctx.frame(CHATS_SQL)


def with_instructor(frame: pl.DataFrame, turn_frame: pl.DataFrame) -> pl.DataFrame:
    """Attach the principal (and channel, trigger) of the turn each span belongs to."""
    roots = turn_frame.select(
        "trace", pl.col("principal").alias("instructor"), pl.col("principal_name").alias("instructor_name"),
        pl.col("trigger").alias("turn_trigger"), pl.col("urgent").alias("turn_urgent"),
        pl.col("ts").alias("turn_ts"),
    ).unique("trace", keep="first")
    return frame.join(roots, on="trace", how="left").with_columns(
        pl.col("instructor").fill_null(""), pl.col("instructor_name").fill_null(""),
        pl.col("turn_trigger").fill_null(""), pl.col("turn_urgent").fill_null(False),
    )
