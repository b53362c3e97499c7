"""Sensitive-data disclosure (CS3): data matching the policy's sensitive patterns (SSN, bank
account, card number, API key, medical terms) leaving an agent toward someone who is not its
owner, worst when the agent had refused the same person before and gave in to a rewording.

What leaves: ``send`` spans whose recipients are not all owners, tool calls of kind ``send``
(their arguments), and, in a turn a non-owner instructed, the model's answer (it goes back to
that person). Only visible where content capture is on, so the requirement names the content
attributes and the engine reports the gap. The value itself is never copied into the alert
(agent content is personal data), not even hashed: an SSN's hash is easily brute-forced.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import SECOND_NS, Detector
from detectors.builtin import frames
from detectors.builtin.disclosure_content import outbound_content, refusals
from detectors.builtin.util import evidence, first_ts, plural
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement


class DisclosureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weight_non_owner_turn: float = 1.0  # a non-owner asked and got the data
    weight_owner_turn: float = 0.4  # the owner's own turn sent it to third parties
    weight_per_kind: float = 0.2  # each further kind of sensitive data
    weight_after_refusal: float = 0.5
    refusal_lookback_seconds: float = 3600.0


class SensitiveDisclosure(Detector[DisclosureParams]):
    name = "disclosure"
    summary = "sensitive data sent to non-owners, especially after a refusal"
    params_model = DisclosureParams
    requirements = (
        Requirement(("gen_ai.output.messages", "gen_ai.input.messages", "gen_ai.tool.call.arguments"),
                    "message and tool content (opt-in content capture)"),
        Requirement(("fleet.principal.id",), "who instructed the agent"),
        Requirement(("fleet.agent.owners",), "who owns the agent", "resource", policy_key="agents"),
    )
    default_window_seconds = 900
    default_slide_seconds = 5
    default_threshold = 0.8
    # Each leak is one span (its turn says who asked); fewer traces mean fewer leaks and fewer
    # earlier refusals, never a higher score.
    early_by_trace = True

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        turn_frame = frames.turns(ctx)
        directory = ctx.directory()
        leaks = outbound_content(ctx, turn_frame, directory, self.policy.patterns.sensitive)
        if leaks.is_empty():
            return []
        refused = refusals(ctx, turn_frame, self.policy.patterns.refusal)
        found = []
        for (agent, audience), mine in leaks.group_by(["agent", "audience"], maintain_order=True):
            found.append(self._candidate(str(agent), str(audience), mine, refused))
        return found

    def _candidate(self, agent: str, audience: str, leaks: pl.DataFrame,
                   refused: pl.DataFrame) -> Candidate:
        p = self.params
        kinds = sorted({k for ks in leaks["kinds"].to_list() for k in ks})
        asked_by_outsider = bool(leaks["outsider_turn"].any())
        score = p.weight_non_owner_turn if asked_by_outsider else p.weight_owner_turn
        score += p.weight_per_kind * (len(kinds) - 1)
        reasons = [f"{plural(leaks.height, 'outbound message/tool call')} carried "
                   f"{', '.join(kinds)} data to {audience}"]
        lookback = int(p.refusal_lookback_seconds * SECOND_NS)
        earlier = refused.filter(
            (pl.col("agent") == agent) & (pl.col("principal") == audience)
            & (pl.col("ts") < leaks["ts"].min()) & (pl.col("ts") >= leaks["ts"].min() - lookback)  # type: ignore[operator]
        )
        if not earlier.is_empty():
            score += p.weight_after_refusal
            minutes = (int(leaks["ts"].min()) - int(earlier["ts"].max())) / 60e9  # type: ignore[arg-type]
            reasons.append(f"{minutes:.0f} minutes after the agent refused the same person")
        who = "non-owner" if asked_by_outsider else "third party"
        proof = pl.concat([earlier.select("ts", "trace", "span"), leaks.select("ts", "trace", "span")])
        return Candidate(
            key=f"disclosure:{agent}|{audience}", score=score,
            title=f"{agent} disclosed {', '.join(kinds)} data to {who} {audience}",
            explanation=f"{agent}: {'; '.join(reasons)} (values withheld; see the evidence spans).",
            agents=(agent,), principals=(audience,), evidence=evidence(proof),
            first_event_ns=first_ts(leaks),
            labels={"kinds": ",".join(kinds), "after_refusal": str(not earlier.is_empty()).lower(),
                    "leak_spans": ",".join(leaks.sort("ts")["span"].head(8).to_list())},
        )
