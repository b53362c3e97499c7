"""The drift detector's statistics: an agent's window against its own history (robust
deviations, their size, an isolation forest) and the fleet's shared change.

Every function is deterministic (the forest is seeded) and works on plain numpy arrays in
``FEATURES`` order: a history is one row per remembered window.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from detectors.builtin.drift_features import FEATURES, MIN_STD

FLOOR = np.array([MIN_STD[name] for name in FEATURES])


def spread(history: np.ndarray, floor: np.ndarray = FLOOR) -> np.ndarray:
    """Robust spread (1.4826 x median absolute deviation, so a standard deviation for normal
    data), floored: the agent's first windows (everyone new) and rare bursts do not widen it."""
    mad = np.median(np.abs(history - np.median(history, axis=0)), axis=0)
    found: np.ndarray = np.maximum(1.4826 * mad, floor)
    return found


def deviations(vector: np.ndarray, history: np.ndarray) -> np.ndarray:
    """Per feature: how far ``vector`` is from the history's median, in its robust spreads."""
    found: np.ndarray = (vector - np.median(history, axis=0)) / spread(history)
    return found


def size(deviation: np.ndarray) -> float:
    """How far a deviation vector is from ordinary: the length of its three largest parts."""
    return float(np.sqrt(np.sort(deviation ** 2)[-3:].sum()))


def fleet_change(devs: list[np.ndarray], min_agents: int) -> tuple[np.ndarray, np.ndarray]:
    """What the whole fleet did at once in a window, feature by feature: the median deviation
    of the agents judged, and how widely they scattered around it (1.4826 x MAD, at least 1).
    An agent's deviation less the median, in that scatter, is its own change: when every agent
    moves, some by more than others, the scatter grows with the move. No change (0, 1) for
    fewer than ``min_agents`` agents."""
    if len(devs) < min_agents:
        return np.zeros(len(FEATURES)), np.ones(len(FEATURES))
    table = np.array(devs)
    median: np.ndarray = np.median(table, axis=0)
    scatter: np.ndarray = np.maximum(1.4826 * np.median(np.abs(table - median), axis=0), 1.0)
    return median, scatter


def isolated(vector: np.ndarray, history: np.ndarray, columns: np.ndarray, trees: int,
             share: float) -> bool:
    """More isolated than all but ``share`` of the agent's own history windows (seeded forest;
    0 = more isolated than every one, which one odd window in the history would defeat).

    The forest sees the history in the agent's own robust spreads, each window repeated with
    seeded jitter of half a (floored) spread: a feature that never varied still has the spread
    ``MIN_STD`` assumes, so the forest can split on it."""
    centre, scale = np.median(history, axis=0), spread(history, FLOOR[columns])
    scaled = (history - centre) / scale
    jitter = np.random.default_rng(0).normal(0.0, 0.5, size=(4, *scaled.shape))
    train = (scaled[None, :, :] + jitter).reshape(-1, scaled.shape[1])
    forest = IsolationForest(n_estimators=trees, random_state=0).fit(train)
    now = forest.score_samples(((vector - centre) / scale)[None, :])[0]
    return bool(np.mean(forest.score_samples(scaled) <= now) <= share)
