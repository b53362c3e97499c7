"""Where a slow tick spends its time: while a tick has run longer than a threshold, sample the
stacks of the engine's thread and the sweep's thread every few tens of milliseconds.

A tick stuck in a ClickHouse call with its thread's CPU flat waits for chDB; one in Python or
polars code whose CPU creeps waits for the GIL; the sweep's stack at the same instants says what
it was doing meanwhile. With a client it also asks, about twice a second, whether ClickHouse is
merging parts (``system.merges``), stalled or not, so the two shares can be compared.
Bench-only: it reads other threads' frames (``sys._current_frames``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from types import FrameType
from typing import Any

from clickhouse_connect.driver.client import Client

from bench.cpu import thread_cpu

OWN_CODE = ("/detectors/", "/collector/", "/fleetwatch/")
MERGES_EVERY_S = 0.5
_MERGES_SQL = "SELECT count() FROM system.merges"


class StallSampler:
    def __init__(self, threshold_s: float = 1.0, every_s: float = 0.05,
                 client: Client | None = None) -> None:
        self.threshold_s, self.every_s, self._client = threshold_s, every_s, client
        self.merges: list[tuple[bool, int]] = []  # (a tick stalled then, merges running)
        self._merges_at = 0.0
        self.tick_began: float | None = None
        self.engine_ident: int | None = None
        self.engine_native: int | None = None
        self.sweep_ident: int | None = None
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stall-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick_started(self) -> None:
        self.engine_ident, self.engine_native = threading.get_ident(), threading.get_native_id()
        self.tick_began = time.perf_counter()

    def tick_ended(self) -> None:
        self.tick_began = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            began = self.tick_began
            stalled = began is not None and time.perf_counter() - began >= self.threshold_s
            self._sample_merges(stalled)
            if began is None or not stalled:
                continue
            frames = sys._current_frames()
            if self.sweep_ident is None:
                self.sweep_ident = next((t.ident for t in threading.enumerate()
                                         if t.name == "detector-sweep"), None)
            self.samples.append({
                "tick_s": round(time.perf_counter() - began, 2),
                "engine_cpu_s": thread_cpu().get(self.engine_native or -1, 0.0),
                "engine": _where(frames.get(self.engine_ident or -1)),
                "sweep": _where(frames.get(self.sweep_ident or -1)),
            })

    def _sample_merges(self, stalled: bool) -> None:
        now = time.perf_counter()
        if self._client is None or now - self._merges_at < MERGES_EVERY_S:
            return
        self._merges_at = now
        running = int(self._client.query(_MERGES_SQL).result_rows[0][0])
        self.merges.append((stalled, running))

    def summary(self, top: int = 12) -> dict[str, Any]:
        """The commonest (engine, sweep) places during stalls, and the engine's CPU share then."""
        pairs = Counter((s["engine"], s["sweep"]) for s in self.samples)
        return {"samples": len(self.samples),
                "engine_places": Counter(s["engine"] for s in self.samples).most_common(top),
                "sweep_places": Counter(s["sweep"] for s in self.samples).most_common(top),
                "pairs": [[e, w, n] for (e, w), n in pairs.most_common(top)],
                "engine_cpu_share": _cpu_share(self.samples),
                "merging_share": {"stalled": _merging(self.merges, True),
                                  "not_stalled": _merging(self.merges, False)}}


def _where(frame: FrameType | None) -> str:
    """The innermost frame and the innermost of fleetwatch's own frames around it."""
    if frame is None:
        return "-"
    inner = _short(frame)
    own: FrameType | None = frame
    while own is not None and not any(p in own.f_code.co_filename for p in OWN_CODE):
        own = own.f_back
    return inner if own is None or own is frame else f"{_short(own)} > {inner}"


def _short(frame: FrameType) -> str:
    name = frame.f_code.co_filename.rsplit("/", 2)
    return f"{'/'.join(name[-2:])}:{frame.f_code.co_name}:{frame.f_lineno}"


def _cpu_share(samples: list[dict[str, Any]]) -> float | None:
    """The engine thread's CPU seconds per wall second over consecutive stalled samples."""
    cpu = wall = 0.0
    for before, after in pairwise(samples):
        if after["tick_s"] > before["tick_s"]:
            cpu += after["engine_cpu_s"] - before["engine_cpu_s"]
            wall += after["tick_s"] - before["tick_s"]
    return round(cpu / wall, 3) if wall else None


def _merging(merges: list[tuple[bool, int]], stalled: bool) -> dict[str, Any]:
    """How often ClickHouse was merging parts, among the samples taken with or without a stall."""
    picked = [running for was, running in merges if was == stalled]
    return {"samples": len(picked),
            "share": round(sum(1 for r in picked if r) / len(picked), 3) if picked else None}
