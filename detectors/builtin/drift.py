"""Behavioural drift: an agent that starts behaving unlike its own past - another mix of tools,
other recipients and principals, more errors or tokens - for a sustained stretch.

Every slide, each sufficiently active agent gets a behaviour vector over the window (the last
hour by default, judged every 30 minutes; drift_features.py), including the share of people in
it, and of tools it called, that nobody in the fleet had dealt with or used before. The agent's
history of vectors, and the people and tools the fleet knows, live in the baseline. After
``warmup_windows`` of history each feature's deviation from the agent's own median, in its own
robust (floored) spread, is taken; then the fleet's change in the same window is taken out: the
median deviation of the agents judged is subtracted and the rest divided by how widely they
scattered around it, so a change every agent makes at once (a new tool for everyone, a model
with a bigger context), by more for some than for others, is not one agent drifting
(drift_model.py). The size of a window's change is the length of its three largest deviations.
Drift must persist: ``persist_windows`` windows in a row each of size ``z_min`` or more, and a
seeded IsolationForest fitted on the agent's own history, in the ``isolation_features``
features that moved most over the run (rebuilt each time, so deterministic), must find the
newest window more isolated than all but ``isolation_share`` of the history windows: the agent
has not behaved like this before, even rarely. Suspect windows (size ``suspect_z`` or more)
are kept out of the history and teach the fleet no new people or tools, so a drift never
becomes the norm unnoticed; after ``accept_after`` suspect windows in a row the new behaviour
is learned as normal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.drift_features import FEATURES, Behaviour, Known, behaviour_vectors
from detectors.builtin.drift_model import deviations, fleet_change, isolated, size, spread
from detectors.builtin.util import evidence, first_ts
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement

MAX_KNOWN = 20_000  # principals and recipients the fleet is known to deal with (the latest)


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
    isolation_share: float = 0.0  # share of history windows allowed to be as isolated as the new one
    isolation_features: int = 3  # the forest sees the features that moved most
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
                states[agent] = {"history": [], "streak": 0, "last": None, **state}
            return states[agent]

        # People anyone in the fleet has dealt with, and tools anyone used, in an ordinary
        # window: a stranger to the whole fleet is news, a researcher who talks to every agent
        # is not.
        stored = ctx.baseline.get("fleet:known") or {}
        known = {key: set(stored.get(key, [])) for key in ("principals", "recipients", "tools")}
        behaviours = behaviour_vectors(turns, frames.tools(ctx), frames.chats(ctx), frames.sends(ctx),
                                       ctx.directory(), p.min_turns,
                                       lambda agent: Known(known["principals"], known["recipients"],
                                                           self._tools(state_of(agent), known["tools"])))
        vectors = {agent: np.array(b.vector) for agent, b in behaviours.items()}
        fleet = np.median(np.array(list(vectors.values())), axis=0) if vectors else None
        due = {agent: state_of(agent) for agent in sorted(vectors)
               if state_of(agent)["last"] is None or state_of(agent)["last"] < ctx.window.end_ns}
        change = fleet_change([deviations(vectors[agent], np.array(state["history"], dtype=float))
                               for agent, state in due.items()
                               if len(state["history"]) >= p.warmup_windows], p.fleet_min_agents)
        found, learned = [], {key: set[str]() for key in known}
        for agent, state in due.items():
            candidate = self._judge(agent, behaviours[agent], state, fleet, change, ctx.window.end_ns)
            state["last"] = ctx.window.end_ns
            if state["streak"] == 0:  # the window was learned as ordinary
                learned["principals"] |= behaviours[agent].principals
                learned["recipients"] |= behaviours[agent].recipients
                learned["tools"] |= behaviours[agent].tools
            ctx.baseline.put(f"agent:{agent}", state)
            if candidate is not None:
                mine = turns.filter(pl.col("agent") == agent)
                found.append(replace(candidate, evidence=evidence(mine), first_event_ns=first_ts(mine)))
        if any(learned[key] - known[key] for key in known):
            ctx.baseline.put("fleet:known", {key: [*stored.get(key, []), *sorted(learned[key] - known[key])]
                                             [-MAX_KNOWN:] for key in known})
        return found

    def _judge(self, agent: str, behaviour: Behaviour, state: dict[str, Any],
               fleet: np.ndarray | None, change: tuple[np.ndarray, np.ndarray],
               end_ns: int) -> Candidate | None:
        """Judge the window against the agent's history, less the fleet's ``change`` (its median
        deviation, and the agents' scatter around it)."""
        p = self.params
        vector = np.array(behaviour.vector)
        history = np.array(state["history"], dtype=float) if state["history"] else None
        if history is None or len(history) < p.warmup_windows:
            self._remember(state, behaviour, suspect=False)
            return None
        state["judged"] = int(state.get("judged", 0)) + 1  # windows judged (evaluation reads it)
        moved = (deviations(vector, history) - change[0]) / change[1]
        recent = [np.array(d) for d in state.get("recent", [])] if state.get("recent_end") == (
            end_ns - self.slide_ns) else []
        recent = [*recent, moved][-p.persist_windows:]
        state["recent"], state["recent_end"] = [[float(x) for x in d] for d in recent], end_ns
        combined = np.mean(recent, axis=0)
        # Every window of the run must be unusual on its own: one wild window is not a drift.
        # The forest looks at the features that moved most over the run: has the agent ever
        # behaved like this before (a rare but recurring mode the robust spread ignores)?
        moving = np.argsort(-np.abs(combined))[:p.isolation_features]
        drifted = (len(recent) == p.persist_windows and all(size(d) >= p.z_min for d in recent)
                   and isolated((np.median(history, axis=0) + moved * spread(history))[moving],
                                history[:, moving], moving, p.trees, p.isolation_share))
        suspect = size(moved) >= p.suspect_z
        self._remember(state, behaviour, suspect=suspect)
        if not drifted:
            return None
        order = np.argsort(-np.abs(combined))[:3]
        named = ", ".join(f"{FEATURES[i]} {combined[i]:+.1f} sd" for i in order)
        unlike_fleet = fleet is not None and bool(np.any(np.abs(vector - fleet)[order] > 0.5))
        return Candidate(
            key=f"drift:{agent}", score=min(size(d) for d in recent) / p.z_min,
            title=f"{agent} behaves unlike its own history",
            explanation=(f"{agent} has behaved unlike its own last {len(history)} windows for "
                         f"{len(recent)} windows in a row: {named}"
                         + ("; also unlike the rest of the fleet" if unlike_fleet else "") + "."),
            agents=(agent,), labels={"streak": str(state["streak"])},
        )

    def _tools(self, state: dict[str, Any], tools: set[str]) -> set[str] | None:
        """The tools the fleet used in ordinary windows; None while this agent warms up (its
        history then holds windows from before the fleet knew its tools)."""
        return tools if len(state["history"]) >= self.params.warmup_windows else None

    def _remember(self, state: dict[str, Any], behaviour: Behaviour, *, suspect: bool) -> None:
        """Ordinary windows join the history (streak 0: the caller also learns whom they
        involved); suspect ones only after ``accept_after`` in a row."""
        state["streak"] = int(state["streak"]) + 1 if suspect else 0
        if not suspect or state["streak"] >= self.params.accept_after:
            vector = [float(x) for x in behaviour.vector]
            state["history"] = [*state["history"], vector][-self.params.history:]
            state["streak"] = 0
