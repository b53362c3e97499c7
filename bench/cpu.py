"""CPU seconds of this process and of each of its threads (by native thread id), for the benches."""

from __future__ import annotations

import psutil


def thread_cpu() -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}


def process_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)
