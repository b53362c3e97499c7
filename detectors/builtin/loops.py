"""Agent-to-agent loops (CS4): sustained alternating exchanges between two agents with no
human turn in the conversation, and the token burn they cost.

A message from agent A to agent B is B's turn whose principal is A's own principal id
(``fleet.agent.principal``). Per pair, the detector finds the longest run of messages that
alternate direction with short gaps and no human instruction in the same conversation between
them. Benign collaborations go back and forth a few times and end with a report to a human.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import SECOND_NS, Detector
from detectors.builtin import frames
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement


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

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        turn_frame = frames.turns(ctx)
        by_principal = ctx.directory().principal_to_agent
        if turn_frame.is_empty() or not by_principal:
            return []
        turn_frame = turn_frame.with_columns(
            pl.col("principal").replace_strict(by_principal, default="").alias("sender")
        )
        messages = turn_frame.filter(pl.col("sender") != "").with_columns(
            pl.min_horizontal("sender", "agent").alias("a"), pl.max_horizontal("sender", "agent").alias("b")
        )
        humans = turn_frame.filter((pl.col("sender") == "") & (pl.col("principal") != ""))
        found = []
        for (a, b), pair in messages.group_by(["a", "b"], maintain_order=True):
            run = self._longest_run(pair.sort("ts"), humans)
            if len(run) >= 2:
                found.append(self._candidate(ctx, str(a), str(b), pair.filter(pl.col("span").is_in(run))))
        return found

    def _longest_run(self, pair: pl.DataFrame, humans: pl.DataFrame) -> list[str]:
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
                   humans: pl.DataFrame) -> bool:
        if message["sender"] == previous["sender"]:
            return False
        start, end = int(str(previous["ts"])), int(str(message["ts"]))
        if end - start > gap:
            return False
        conversation = message["conversation"] or previous["conversation"]
        if not conversation:
            return True
        interrupted = humans.filter(
            (pl.col("conversation") == conversation) & pl.col("ts").is_between(start, end)
        )
        return interrupted.is_empty()

    def _candidate(self, ctx: EvalContext, a: str, b: str, run: pl.DataFrame) -> Candidate:
        tokens = ctx.rows(
            "SELECT sum(InputTokens + OutputTokens) FROM otel_traces "
            "WHERE {window} AND has({traces:Array(String)}, TraceId)",
            traces=run["trace"].to_list(),
        )[0][0]
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
