"""Behavioural drift: an agent that starts behaving unlike its own past - another mix of tools,
other recipients and principals, more errors or tokens - for a sustained stretch.

Every slide, each sufficiently active agent gets a behaviour vector over the window (the last
hour by default, judged every 30 minutes; drift_features.py). The agent's history of vectors
lives in its baseline (at most ``history``). After ``warmup_windows`` of history the vector's
deviation from the agent's own mean, in its own (floored) standard deviations, is taken per
feature; the fleet's median deviation in the same window is subtracted first, so a change
every agent makes at once (a new tool for everyone, a model with a bigger context) is not one
agent drifting. The size of a window's change is the length of its three largest deviations
(several features must move together). Drift must persist: ``persist_windows`` windows in a row
each of size ``z_min`` or more, and a seeded IsolationForest fitted on the agent's own history
(rebuilt each time, so deterministic) must find the newest window more isolated than every
history window. Suspect windows (size ``suspect_z`` or more) are kept out of the history and do
not teach it new people, so a drift never becomes the norm unnoticed; after ``accept_after``
suspect windows in a row the new behaviour is learned as normal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict
from sklearn.ensemble import IsolationForest

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.drift_features import FEATURES, MIN_STD, Behaviour, behaviour_vectors
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement

MAX_KNOWN = 2000  # principals and recipients remembered per agent (the most recent)


class DriftParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_turns: int = 6
    history: int = 48
    warmup_windows: int = 8
    z_min: float = 5.0
    persist_windows: int = 3
    suspect_z: float = 3.0
    accept_after: int = 6
    trees: int = 50
    # With this many agents judged in a window, their median change since their own history is
    # the fleet's change (a model upgrade, a new tool for everyone) and is taken out first.
    fleet_min_agents: int = 5


class BehaviourDrift(Detector[DriftParams]):
    name = "drift"
    summary = "agents behaving unlike their own history for a sustained stretch"
    params_model = DriftParams
    requirements = (Requirement(("gen_ai.operation.name",), "what kind of work each span is"),)
    default_window_seconds = 3600
    default_slide_seconds = 1800
    default_threshold = 1.0

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        p = self.params
        turns = frames.turns(ctx)
        states: dict[str, dict[str, Any]] = {}

        def state_of(agent: str) -> dict[str, Any]:
            if agent not in states:
                state = ctx.baseline.get(f"agent:{agent}") or {}
                history = state.get("history") or []
                if history and len(history[0]) != len(FEATURES):
                    state = {}  # learned with another feature set: start again
                states[agent] = {"history": [], "streak": 0, "last": None, "known_principals": [],
                                 "known_recipients": [], **state}
            return states[agent]

        def known(agent: str) -> tuple[set[str], set[str]]:
            state = state_of(agent)
            return set(state["known_principals"]), set(state["known_recipients"])

        behaviours = behaviour_vectors(turns, frames.tools(ctx), frames.chats(ctx),
                                       frames.sends(ctx), ctx.directory(), p.min_turns, known)
        vectors = {agent: np.array(b.vector) for agent, b in behaviours.items()}
        fleet = np.median(np.array(list(vectors.values())), axis=0) if vectors else None
        due = {agent: state_of(agent) for agent in sorted(vectors)
               if state_of(agent)["last"] is None or state_of(agent)["last"] < ctx.window.end_ns}
        shared = self._fleet_change(vectors, due)
        found = []
        for agent, state in due.items():
            candidate = self._judge(agent, behaviours[agent], state, fleet, shared, ctx.window.end_ns)
            state["last"] = ctx.window.end_ns
            ctx.baseline.put(f"agent:{agent}", state)
            if candidate is not None:
                mine = turns.filter(pl.col("agent") == agent)
                found.append(replace(candidate, evidence=evidence(mine), first_event_ns=first_ts(mine)))
        return found

    def _judge(self, agent: str, behaviour: Behaviour, state: dict[str, Any],
               fleet: np.ndarray | None, shared: np.ndarray, end_ns: int) -> Candidate | None:
        """Judge the window against the agent's history, less the fleet's ``shared`` deviation."""
        p = self.params
        vector = np.array(behaviour.vector)
        history = np.array(state["history"], dtype=float) if state["history"] else None
        if history is None or len(history) < p.warmup_windows:
            self._remember(state, behaviour, suspect=False)
            return None
        state["judged"] = int(state.get("judged", 0)) + 1  # windows judged (evaluation reads it)
        deviations = self._deviations(vector, history) - shared
        recent = [np.array(d) for d in state.get("recent", [])] if state.get("recent_end") == (
            end_ns - self.slide_ns) else []
        recent = [*recent, deviations][-p.persist_windows:]
        state["recent"], state["recent_end"] = [[float(x) for x in d] for d in recent], end_ns
        combined = np.mean(recent, axis=0)
        # Every window of the run must be unusual on its own: one wild window is not a drift.
        drifted = (len(recent) == p.persist_windows and all(size(d) >= p.z_min for d in recent)
                   and self._isolated(vector - shared * self._spread(history), history))
        suspect = size(deviations) >= p.suspect_z
        self._remember(state, behaviour, suspect=suspect)
        if not drifted:
            return None
        order = np.argsort(-np.abs(combined))[:3]
        moved = ", ".join(f"{FEATURES[i]} {combined[i]:+.1f} sd" for i in order)
        unlike_fleet = fleet is not None and bool(np.any(np.abs(vector - fleet)[order] > 0.5))
        return Candidate(
            key=f"drift:{agent}", score=min(size(d) for d in recent) / p.z_min,
            title=f"{agent} behaves unlike its own history",
            explanation=(f"{agent} has behaved unlike its own last {len(history)} windows for "
                         f"{len(recent)} windows in a row: {moved}"
                         + ("; also unlike the rest of the fleet" if unlike_fleet else "") + "."),
            agents=(agent,), labels={"streak": str(state["streak"])},
        )

    def _remember(self, state: dict[str, Any], behaviour: Behaviour, *, suspect: bool) -> None:
        """Ordinary windows join the history (and whom they involved, the known people);
        suspect ones only after ``accept_after`` in a row."""
        state["streak"] = int(state["streak"]) + 1 if suspect else 0
        if not suspect or state["streak"] >= self.params.accept_after:
            vector = [float(x) for x in behaviour.vector]
            state["history"] = [*state["history"], vector][-self.params.history:]
            state["streak"] = 0
            for key, seen in (("known_principals", behaviour.principals),
                              ("known_recipients", behaviour.recipients)):
                fresh = sorted(seen - set(state[key]))
                state[key] = [*state[key], *fresh][-MAX_KNOWN:]

    def _fleet_change(self, vectors: dict[str, np.ndarray],
                      states: dict[str, dict[str, Any]]) -> np.ndarray:
        """The median deviation of the agents with a full history, feature by feature: what the
        whole fleet did at once is not one agent drifting. Zero for a small fleet."""
        deviations = [self._deviations(vectors[agent], np.array(state["history"], dtype=float))
                      for agent, state in states.items()
                      if len(state["history"]) >= self.params.warmup_windows]
        if len(deviations) < self.params.fleet_min_agents:
            return np.zeros(len(FEATURES))
        median: np.ndarray = np.median(np.array(deviations), axis=0)
        return median

    @staticmethod
    def _spread(history: np.ndarray) -> np.ndarray:
        """Robust spread (1.4826 x median absolute deviation, so a standard deviation for normal
        data), floored: the agent's first windows (everyone new) and rare bursts do not widen it."""
        floor = np.array([MIN_STD[name] for name in FEATURES])
        mad = np.median(np.abs(history - np.median(history, axis=0)), axis=0)
        spread: np.ndarray = np.maximum(1.4826 * mad, floor)
        return spread

    @classmethod
    def _deviations(cls, vector: np.ndarray, history: np.ndarray) -> np.ndarray:
        deviations: np.ndarray = (vector - np.median(history, axis=0)) / cls._spread(history)
        return deviations

    def _isolated(self, vector: np.ndarray, history: np.ndarray) -> bool:
        """More isolated than every window of the agent's own history (seeded forest).

        The forest sees the history in the agent's own standard deviations, each window repeated
        with seeded jitter of half a (floored) deviation: a feature that never varied still has
        the spread ``MIN_STD`` assumes, so the forest can split on it."""
        centre, spread = np.median(history, axis=0), self._spread(history)
        scaled = (history - centre) / spread
        jitter = np.random.default_rng(0).normal(0.0, 0.5, size=(4, *scaled.shape))
        train = (scaled[None, :, :] + jitter).reshape(-1, scaled.shape[1])
        forest = IsolationForest(n_estimators=self.params.trees, random_state=0).fit(train)
        now = forest.score_samples(((vector - centre) / spread)[None, :])[0]
        return bool(now < forest.score_samples(scaled).min())


def size(deviations: np.ndarray) -> float:
    """How far a deviation vector is from ordinary: the length of its three largest parts."""
    return float(np.sqrt(np.sort(deviations ** 2)[-3:].sum()))
