"""Deterministic randomness: every random stream and every trace/span id derives from the seed.

Streams are derived by label (``derived_rng(seed, "agent", "agent-ash")``) rather than drawn in
sequence from one generator, so adding a scenario or an agent does not shift the ids and timings
of everything else in the run.
"""

from __future__ import annotations

import hashlib
import random

from opentelemetry.sdk.trace.id_generator import IdGenerator


def derive_seed(seed: int, *labels: str) -> int:
    """A 64-bit seed for the stream named by ``labels``, stable across Python versions."""
    digest = hashlib.sha256("\x1f".join([str(seed), *labels]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def derived_rng(seed: int, *labels: str) -> random.Random:
    return random.Random(derive_seed(seed, *labels))


class SeededIdGenerator(IdGenerator):
    """Trace and span ids drawn from a seeded stream, so the same seed gives the same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        span_id = 0
        while span_id == 0:
            span_id = self._rng.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = 0
        while trace_id == 0:
            trace_id = self._rng.getrandbits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        # All 128 bits come from a uniform (if seeded) stream.
        return True


def trace_hex(trace_id: int) -> str:
    """The lower-case hex form used in ClickHouse's TraceId column and in the labels file."""
    return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    return f"{span_id:016x}"
