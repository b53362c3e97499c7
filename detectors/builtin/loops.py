"""Agent-to-agent loops (CS4): sustained alternating exchanges between two agents with no
human turn in the conversation, and the token burn they cost.

A message from agent A to agent B is B's turn whose principal is A's own principal id
(``fleet.agent.principal``). Per pair, the detector finds the longest run of messages that
alternate direction with short gaps and no human instruction in the same conversation between
them. Benign collaborations go back and forth a few times and end with a report to a human.
"""

from __future__ import annotations

from bisect import bisect_left
from math import ceil

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import SECOND_NS, Detector
from detectors.builtin import frames
from detectors.builtin.util import evidence, first_ts
from detectors.context import WHOLE_MAPS, EvalContext
from detectors.model import Candidate, Requirement

# Only turns instructed by an agent (messages), and human turns in the conversations those
# messages belong to: a 30-minute window holds millions of turns, almost all irrelevant here.
MESSAGES_SQL = """
SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent,
       PrincipalId AS principal, SpanAttributes['gen_ai.conversation.id'] AS conversation
FROM otel_traces
WHERE {window} AND Operation = 'invoke_agent' AND PrincipalId IN {senders:Array(String)}
ORDER BY ts
""" + WHOLE_MAPS
# Human turns in any conversation, row by row, matched to the loop's conversations in polars:
# at 2,000 agents the window's agent messages span ~66,000 conversations, and that list bound
# as an IN parameter kept one full-window query busy for more than 5 minutes (bench). Row-level,
# the sweep can also read it in slices (detectors/slices.py).
HUMANS_SQL = """
SELECT SpanAttributes['gen_ai.conversation.id'] AS conversation,
       toUnixTimestamp64Nano(Timestamp) AS ts
FROM otel_traces
WHERE {window} AND Operation = 'invoke_agent' AND PrincipalId != ''
  AND PrincipalId NOT IN {senders:Array(String)}
  AND SpanAttributes['gen_ai.conversation.id'] != ''
""" + WHOLE_MAPS
TOKENS_SQL = """
SELECT TraceId, sum(InputTokens + OutputTokens) FROM otel_traces
WHERE {window} AND TraceId IN {traces:Array(String)} GROUP BY TraceId
"""
Humans = dict[str, list[int]]  # conversation -> times of human turns, sorted


class LoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_run: int = 12  # alternating messages for a score of 1.0
    max_gap_seconds: float = 600.0


class AgentLoops(Detector[LoopParams]):
    name = "loops"
    summary = "agent-to-agent exchanges that go on with no human turn"
    params_model = LoopParams
    requirements = (
        Requirement(("fleet.principal.id",), "who sent each message"),
        Requirement(("fleet.agent.principal",), "agents' own principal ids", "resource",
                    policy_key="agents"),
    )
    default_window_seconds = 1800
    default_slide_seconds = 5
    default_threshold = 0.8
    # A pair's run is read from both agents' turns: with both agents' whole window it is the
    # full window's run; with one agent's only, one direction is missing and the run shorter.
    early_by_agent = True
    # Judged live once the changed traces settled: a turn that follows can break the run.
    live_settle = True

    def live_agents(self, ctx: EvalContext) -> set[str]:
        """Both agents of every message between agents in the changed traces."""
        by_principal = ctx.directory().principal_to_agent
        if not by_principal:
            return set()
        messages = _messages(ctx, sorted(by_principal))
        receivers = set(messages["agent"].to_list())
        return receivers | {by_principal[p] for p in messages["principal"].to_list() if p in by_principal}

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        by_principal = ctx.directory().principal_to_agent
        if not by_principal:
            return []
        senders = sorted(by_principal)
        messages = _messages(ctx, senders)
        if messages.is_empty():
            return []
        messages = messages.with_columns(
            pl.col("principal").replace_strict(by_principal, default="").alias("sender")
        ).with_columns(
            pl.min_horizontal("sender", "agent").alias("a"), pl.max_horizontal("sender", "agent").alias("b")
        )
        conversations = sorted(set(messages["conversation"].to_list()) - {""})
        humans: Humans = {}
        if conversations:
            turns = _human_turns(ctx, senders).filter(pl.col("conversation").is_in(conversations))
            grouped = turns.group_by("conversation").agg(pl.col("ts").sort())
            humans = {str(c): [int(t) for t in times] for c, times in grouped.iter_rows()}
        # Only runs long enough to be reported (``decide``): at 2,000 agents benign exchanges
        # make short runs over ~150,000 traces, too many to look their tokens up.
        shortest = max(2, ceil(self.threshold * self.params.min_run))
        runs = []
        for (a, b), pair in _may_run(messages, shortest).group_by(["a", "b"], maintain_order=True):
            run = self._longest_run(pair.sort("ts"), humans)
            if len(run) >= shortest:
                runs.append((str(a), str(b), pair.filter(pl.col("span").is_in(run))))
        if not runs:
            return []
        traces = sorted({t for _, _, run in runs for t in run["trace"]})
        tokens = {str(t): int(n or 0) for t, n in ctx.rows(TOKENS_SQL, traces=traces)}
        return [self._candidate(a, b, run, tokens) for a, b, run in runs]

    def _longest_run(self, pair: pl.DataFrame, humans: Humans) -> list[str]:
        gap = int(self.params.max_gap_seconds * SECOND_NS)
        best: list[str] = []
        current: list[str] = []
        previous: dict[str, object] | None = None
        for message in pair.iter_rows(named=True):
            if previous is None or not self._continues(previous, message, gap, humans):
                current = []
            current.append(str(message["span"]))
            best = current if len(current) > len(best) else best
            previous = message
        return best

    @staticmethod
    def _continues(previous: dict[str, object], message: dict[str, object], gap: int,
                   humans: Humans) -> bool:
        if message["sender"] == previous["sender"]:
            return False
        start, end = int(str(previous["ts"])), int(str(message["ts"]))
        if end - start > gap:
            return False
        conversation = message["conversation"] or previous["conversation"]
        if not conversation:
            return True
        times = humans.get(str(conversation), [])
        first = bisect_left(times, start)  # a human turn at or between the two messages
        return not (first < len(times) and times[first] <= end)

    def _candidate(self, a: str, b: str, run: pl.DataFrame, per_trace: dict[str, int]) -> Candidate:
        tokens = sum(per_trace.get(str(t), 0) for t in set(run["trace"]))
        minutes = (int(run["ts"].max()) - int(run["ts"].min())) / 60e9  # type: ignore[arg-type]
        return Candidate(
            key=f"loop:{a}|{b}", score=run.height / self.params.min_run,
            title=f"{a} and {b} are looping",
            explanation=(
                f"{a} and {b} exchanged {run.height} alternating messages over {minutes:.1f} "
                f"minutes with no human turn in between, burning {int(tokens or 0)} tokens."
            ),
            agents=(a, b), principals=tuple(sorted(set(run["principal"]))),
            evidence=evidence(run), first_event_ns=first_ts(run),
            labels={"messages": str(run.height), "tokens": str(int(tokens or 0))},
        )


def _may_run(messages: pl.DataFrame, shortest: int) -> pl.DataFrame:
    """The messages of pairs that could hold a run of ``shortest``: a run alternates senders, so
    it is at most one longer than twice the rarer direction's messages. Most pairs exchange a
    message or two, and the run search is a Python loop per pair."""
    from_a = (pl.col("sender") == pl.col("a")).sum().over("a", "b")
    rarer = pl.min_horizontal(from_a, pl.len().over("a", "b") - from_a)
    return messages.filter(2 * rarer + 1 >= shortest)


def _messages(ctx: EvalContext, senders: list[str]) -> pl.DataFrame:
    """MESSAGES_SQL's rows: from the span tail's turns when it holds them, else the query."""
    turns = ctx.held(frames.TURNS_SQL)
    if turns is None:
        return ctx.frame(MESSAGES_SQL, senders=senders)
    return turns.filter(pl.col("principal").is_in(senders)).select(
        "ts", "trace", "span", "agent", "principal", "conversation")


def _human_turns(ctx: EvalContext, senders: list[str]) -> pl.DataFrame:
    """HUMANS_SQL's rows, likewise."""
    turns = ctx.held(frames.TURNS_SQL)
    if turns is None:
        return ctx.frame(HUMANS_SQL, senders=senders)
    return turns.filter((pl.col("principal") != "") & ~pl.col("principal").is_in(senders)
                        & (pl.col("conversation") != "")).select("conversation", "ts")
