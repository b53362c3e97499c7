"""The live lane goes first: while the engine's tick runs, the sweep thread waits at its next
checkpoint.

The tick and the sweep share one process (chDB allows one per data directory) and so one GIL.
A tick hands the GIL back at every ClickHouse query and polars call, and each time it wants it
back it waits for the sweep to let go: up to ``sys.getswitchinterval()`` if the sweep is busy
in Python. A tick of a few hundred such calls that took 0.2 s alone took 3-9 s while the sweep
evaluated a large window (the detector bench, session 6). The sweep checks the gate before each
query, between slices and windows, and in the detectors' per-agent loops (``EvalContext.
checkpoint``); a tick then shares the GIL only with the stretch the sweep was in when it began.

A wait is bounded (``max_wait_s``): ticks that run back to back must not starve the full
windows, which are the completeness guarantee.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_S = 2.0


class LiveFirst:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self.waited_s = 0.0  # the sweep's total wait at checkpoints (status, bench)
        self._idle = threading.Event()
        self._idle.set()

    @contextmanager
    def ticking(self) -> Iterator[None]:
        """Around a tick: checkpoints wait until it ends."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def give_way(self) -> None:
        """A checkpoint: returns at once between ticks, else when the tick ends (at most
        ``max_wait_s``)."""
        if self._idle.is_set():
            return
        began = time.perf_counter()
        self._idle.wait(self.max_wait_s)
        self.waited_s += time.perf_counter() - began
