"""Fan-out storms (CS11): one turn reaching many distinct recipients when nobody with authority
asked for it, a new periodic posting job, or a spike far above the agent's own habit.

The unit is a turn (one trace): its distinct recipients over every ``send`` span in it, so one
broadcast and N single-recipient sends count alike. Without ``fleet.message.recipients``
(sparse instrumentation) the distinct ``messaging.destination.name`` values stand in.

Three signals, scored per turn:

- **unverified broadcast**: the instructor is not an owner or authorised (a non-owner, a
  spoofed owner, a peer agent) or there is none (heartbeat), and the turn reached at least
  ``min_recipients`` people besides the instructor; ``fleet.instruction.urgent`` adds weight.
- **new periodic posting**: a cron-triggered turn reaching ``cron_min_recipients`` and
  ``cron_growth`` times more than the agent's established cron posts (kept in the baseline).
- **spike**: any turn reaching ``spike_min_recipients`` and ``spike_growth`` times the
  agent's usual largest fan-out (baseline), owner-requested or not.

Owner-requested announcements (8-30 people) and established digest crons stay quiet.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.fan_out_turns import TurnFanOut, as_turns, fan_out_per_turn
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement


class FanOutParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_recipients: int = 5  # an unverified broadcast to this many scores 1.0
    weight_urgent: float = 0.5
    weight_peer: float = 0.5  # a fleet agent among the recipients counts this much
    cron_min_recipients: int = 20
    cron_growth: float = 2.0
    spike_min_recipients: int = 60
    spike_growth: float = 3.0


class FanOutStorms(Detector[FanOutParams]):
    name = "fan_out"
    summary = "broadcasts nobody with authority asked for, new posting crons, fan-out spikes"
    params_model = FanOutParams
    requirements = (
        Requirement(("fleet.message.recipients", "messaging.destination.name"),
                    "who each message went to"),
        Requirement(("fleet.principal.id",), "who instructed the agent"),
        Requirement(("fleet.agent.owners",), "who owns the agent", "resource", policy_key="agents"),
    )
    default_window_seconds = 600
    default_slide_seconds = 5
    default_threshold = 1.0
    # Per turn (trace). The cron and spike signals compare with learned habits, which a live
    # evaluation may see before the full window has taught them: held back while ctx.live.
    early_by_trace = True

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        send_frame = frames.sends(ctx)
        if send_frame.is_empty():
            return []
        turn_frame = frames.turns(ctx)
        directory = ctx.directory()
        per_turn = fan_out_per_turn(send_frame, turn_frame, set(directory.principal_to_agent))
        if ctx.live:
            # Live, the habits are held back and what is learned is scratch: only the turns the
            # non-owner rule can score need judging (a few of the thousands a tick changes).
            per_turn = per_turn.filter(self._may_score_without_habits())
        habits: dict[str, dict[str, int]] = {} if ctx.live else ctx.baseline.get("habits", {})
        found: dict[str, Candidate] = {}
        learned = False
        for turn in as_turns(per_turn):
            habit = habits.setdefault(turn.agent, {"usual": 0, "cron": 0})
            score, reasons = self._score(turn, habit, directory.knows_owners(turn.agent),
                                         directory.may_instruct(turn.agent, turn.instructor),
                                         habits_known=not ctx.live)
            if score <= 0:
                learned |= _learn(habit, turn)
                continue
            candidate = self._candidate(turn, score, reasons, send_frame)
            previous = found.get(candidate.key)
            if previous is None or previous.score < candidate.score:
                found[candidate.key] = candidate
        if learned:
            ctx.baseline.put("habits", habits)
        return list(found.values())

    def _may_score_without_habits(self) -> pl.Expr:
        """Per turn (``fan_out_per_turn``'s columns): could ``_score`` give it a score with the
        habits held back? (An instructor, and enough weighted recipients.)"""
        p = self.params
        weighted = pl.col("reach") - pl.col("peers") * (1 - p.weight_peer)
        return (pl.col("principal") != "") & (weighted >= p.min_recipients)

    def _score(self, turn: TurnFanOut, habit: dict[str, int], owners_known: bool,
               authorised: bool, habits_known: bool = True) -> tuple[float, list[str]]:
        p, n = self.params, turn.reach
        score, reasons = 0.0, []
        # Fleet agents can check with their owners before passing anything on: they weigh half.
        weighted = n - turn.peers * (1 - p.weight_peer)
        if turn.instructor and owners_known and not authorised and weighted >= p.min_recipients:
            score += weighted / p.min_recipients + (p.weight_urgent if turn.urgent else 0.0)
            urgent = "urgent " if turn.urgent else ""
            reasons.append(f"on the {urgent}instruction of non-owner {turn.instructor}")
        if not habits_known:
            return score, reasons
        periodic = not turn.instructor  # cron ticks and heartbeats: nobody asked this time
        if periodic and n >= p.cron_min_recipients and n >= p.cron_growth * habit["cron"]:
            score = max(score, n / p.cron_min_recipients)
            reasons.append(f"unprompted ({turn.trigger or 'no instructor'}), while its earlier "
                           f"periodic posts reached at most {habit['cron']}")
        if n >= p.spike_min_recipients and n >= p.spike_growth * habit["usual"]:
            score = max(score, n / p.spike_min_recipients)
            reasons.append(f"against its usual largest fan-out of {habit['usual']}")
        return score, reasons

    def _candidate(self, turn: TurnFanOut, score: float, reasons: list[str],
                   send_frame: pl.DataFrame) -> Candidate:
        spans = send_frame.filter(pl.col("trace") == turn.trace)
        source = turn.instructor or turn.trigger or "unprompted"
        return Candidate(
            key=f"fan_out:{turn.agent}|{source}", score=score,
            title=f"{turn.agent} messaged {turn.reach} recipients",
            explanation=(f"{turn.agent} sent {spans.height} message(s) reaching {turn.reach} "
                         f"distinct recipients in one turn, {'; '.join(reasons)}."),
            agents=(turn.agent,), principals=(turn.instructor,) if turn.instructor else (),
            evidence=evidence(spans), first_event_ns=first_ts(spans),
            labels={"recipients": str(turn.reach), "trigger": turn.trigger,
                    "urgent": str(turn.urgent).lower()},
        )


def _learn(habit: dict[str, int], turn: TurnFanOut) -> bool:
    """Remember the largest fan-out the agent has shown without alerting (idempotent)."""
    before = dict(habit)
    habit["usual"] = max(habit["usual"], turn.reach)
    if not turn.instructor:
        habit["cron"] = max(habit["cron"], turn.reach)
    return habit != before
