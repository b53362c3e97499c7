"""Which windows a detector evaluates next, given how far it got and the tenant's watermark.

Window ends are multiples of the detector's slide. Live, the engine evaluates every slide; when
far behind (a restart, a bulk load) it steps by half a window, which still puts every incident
shorter than half a window wholly inside some evaluated window, and caps the windows per tick
so one tick stays short. Data that arrives after its windows were judged (later than the allowed
lateness) gets a few extra windows around it instead of being dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

CATCH_UP_AFTER = 4  # more windows due than this: step by half a window
MAX_LATE_WINDOWS = 4


@dataclass(frozen=True)
class Plan:
    ends: tuple[int, ...]  # window ends to evaluate, in order
    evaluated_to: int  # the detector's new position
    step: int


def align_down(ns: int, step: int) -> int:
    return ns - ns % step


def catch_up_step(window: int, slide: int) -> int:
    return max(slide, align_down(window // 2, slide))


def plan_windows(
    evaluated_to: int, watermark: int, window: int, slide: int, max_windows: int,
    late_from: int | None = None,
) -> Plan:
    late = _late_ends(evaluated_to, window, slide, late_from)
    last_due = align_down(watermark, slide)
    if last_due <= evaluated_to:
        return Plan(late, evaluated_to, slide)
    due = (last_due - evaluated_to) // slide
    step = slide if due <= CATCH_UP_AFTER else catch_up_step(window, slide)
    ends: list[int] = []
    position = evaluated_to
    while position < last_due and len(ends) < max_windows:
        position = min(position + step, last_due)
        ends.append(position)
    if ends and late_from is not None and late_from >= ends[0] - window:
        late = ()  # the first new window already holds the late spans: no need to go back
    return Plan(late + tuple(ends), position, step)


def _late_ends(evaluated_to: int, window: int, slide: int, late_from: int | None) -> tuple[int, ...]:
    if late_from is None or late_from >= evaluated_to:
        return ()
    step = catch_up_step(window, slide)
    first = align_down(late_from + window // 2, slide) + slide
    ends: list[int] = []
    position = min(first, evaluated_to)
    while len(ends) < MAX_LATE_WINDOWS:
        ends.append(position)
        if position >= evaluated_to:
            break
        position = min(position + step, evaluated_to)
    return tuple(ends)
