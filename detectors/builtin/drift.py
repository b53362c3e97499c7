"""Behavioural drift: an agent that starts behaving unlike its own past - another mix of tools,
other recipients and principals, more errors or tokens - for a sustained stretch.

Each (tumbling) window gives every sufficiently active agent a behaviour vector
(drift_features.py). The agent's history of vectors lives in its baseline (at most
``history`` windows). After ``warmup_windows`` of history, an IsolationForest (seeded, small,
rebuilt from the history each time so it is deterministic) fitted on the agent's own history
says whether the new vector is more isolated than anything in that history; the size of the
change is the second-largest per-feature deviation in the agent's own standard deviations (two
features must move - one can move by chance). The fleet's median vector in the window names
what is unlike the rest of the fleet too. Drift must persist ``persist_windows`` windows;
drifted vectors are kept out of the history, so a drift never becomes the norm unnoticed, but
after ``accept_after`` drifted windows in a row the new behaviour is accepted as normal.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict
from sklearn.ensemble import IsolationForest

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.drift_features import FEATURES, MIN_STD, behaviour_vectors
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement


class DriftParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_turns: int = 6
    history: int = 48
    warmup_windows: int = 8
    z_min: float = 4.0
    persist_windows: int = 2
    accept_after: int = 6
    trees: int = 50


class BehaviourDrift(Detector[DriftParams]):
    name = "drift"
    summary = "agents behaving unlike their own history for a sustained stretch"
    params_model = DriftParams
    requirements = (Requirement(("gen_ai.operation.name",), "what kind of work each span is"),)
    default_window_seconds = 1800
    default_slide_seconds = 1800
    default_threshold = 1.0

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        p = self.params
        turns = frames.turns(ctx)
        vectors = behaviour_vectors(turns, frames.tools(ctx), frames.chats(ctx),
                                    frames.sends(ctx), ctx.directory(), p.min_turns)
        fleet = np.median(np.array(list(vectors.values())), axis=0) if vectors else None
        found = []
        for agent, vector in sorted(vectors.items()):
            state = ctx.baseline.get(f"agent:{agent}") or {"history": [], "streak": 0, "last": None}
            if state["last"] is not None and state["last"] >= ctx.window.end_ns:
                continue  # this window was already judged (re-evaluation)
            candidate = self._judge(agent, np.array(vector), state, fleet)
            state["last"] = ctx.window.end_ns
            ctx.baseline.put(f"agent:{agent}", state)
            if candidate is not None:
                mine = turns.filter(pl.col("agent") == agent)
                found.append(replace(candidate, evidence=evidence(mine), first_event_ns=first_ts(mine)))
        return found

    def _judge(self, agent: str, vector: np.ndarray, state: dict[str, object],
               fleet: np.ndarray | None) -> Candidate | None:
        p = self.params
        width = len(FEATURES)
        history = np.array(state["history"], dtype=float) if state["history"] else np.empty((0, width))
        drifted, deviations = False, np.zeros(len(FEATURES))
        if len(history) >= p.warmup_windows:
            deviations = self._deviations(vector, history)
            top_two = float(np.sort(np.abs(deviations))[-2])
            drifted = top_two >= p.z_min and self._isolated(vector, history)
        streak = int(state["streak"]) + 1 if drifted else 0  # type: ignore[call-overload]
        state["streak"] = streak
        if not drifted or streak >= p.accept_after:
            state["history"] = [*state["history"], [float(x) for x in vector]][-p.history:]  # type: ignore[misc]
            state["streak"] = 0 if streak >= p.accept_after else streak
        if not drifted or streak < p.persist_windows:
            return None
        order = np.argsort(-np.abs(deviations))[:3]
        moved = ", ".join(f"{FEATURES[i]} {deviations[i]:+.1f} sd" for i in order)
        unlike_fleet = fleet is not None and bool(np.any(np.abs(vector - fleet)[order] > 0.5))
        top_two = float(np.sort(np.abs(deviations))[-2])
        return Candidate(
            key=f"drift:{agent}", score=top_two / p.z_min,
            title=f"{agent} behaves unlike its own history",
            explanation=(f"{agent} has behaved unlike its own last {len(history)} windows for "
                         f"{streak} windows in a row: {moved}"
                         + ("; also unlike the rest of the fleet" if unlike_fleet else "") + "."),
            agents=(agent,), labels={"streak": str(streak)},
        )

    @staticmethod
    def _deviations(vector: np.ndarray, history: np.ndarray) -> np.ndarray:
        floor = np.array([MIN_STD[name] for name in FEATURES])
        spread = np.maximum(history.std(axis=0), floor)
        deviations: np.ndarray = (vector - history.mean(axis=0)) / spread
        return deviations

    def _isolated(self, vector: np.ndarray, history: np.ndarray) -> bool:
        """More isolated than every window of the agent's own history (seeded forest).

        The forest sees the history in the agent's own standard deviations, each window repeated
        with seeded jitter of half a (floored) deviation: a feature that never varied still has
        the spread ``MIN_STD`` assumes, so the forest can split on it."""
        floor = np.array([MIN_STD[name] for name in FEATURES])
        centre, spread = history.mean(axis=0), np.maximum(history.std(axis=0), floor)
        scaled = (history - centre) / spread
        jitter = np.random.default_rng(0).normal(0.0, 0.5, size=(4, *scaled.shape))
        train = (scaled[None, :, :] + jitter).reshape(-1, scaled.shape[1])
        forest = IsolationForest(n_estimators=self.params.trees, random_state=0).fit(train)
        now = forest.score_samples(((vector - centre) / spread)[None, :])[0]
        return bool(now < forest.score_samples(scaled).min())
