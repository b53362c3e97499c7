"""The live tick goes first: the sweep's checkpoints wait while a tick runs, and only so long."""

from __future__ import annotations

import threading
import time

from detectors.live_first import LiveFirst


def test_a_checkpoint_between_ticks_does_not_wait() -> None:
    gate = LiveFirst()
    began = time.perf_counter()
    gate.give_way()
    assert time.perf_counter() - began < 0.05
    assert gate.waited_s == 0.0


def test_a_checkpoint_waits_for_the_running_tick() -> None:
    gate = LiveFirst()
    passed: list[float] = []
    with gate.ticking():
        sweep = threading.Thread(target=lambda: (gate.give_way(), passed.append(time.perf_counter())))
        sweep.start()
        time.sleep(0.3)
        assert not passed  # still held at the checkpoint
        ended = time.perf_counter()
    sweep.join(timeout=5)
    assert passed and passed[0] >= ended
    assert gate.waited_s >= 0.25


def test_a_checkpoint_waits_at_most_max_wait() -> None:
    gate = LiveFirst(max_wait_s=0.2)
    with gate.ticking():  # a tick that never ends, as far as the sweep can tell
        began = time.perf_counter()
        gate.give_way()
        waited = time.perf_counter() - began
    assert 0.15 <= waited < 1.0
