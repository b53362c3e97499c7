"""Small helpers shared by the built-in detectors."""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from detectors.model import Evidence

MAX_EVIDENCE = 32


def evidence(frame: pl.DataFrame, limit: int = MAX_EVIDENCE) -> tuple[Evidence, ...]:
    """Evidence from a frame with ``trace`` and ``span`` columns, earliest first."""
    if frame.is_empty():
        return ()
    rows = frame.sort("ts").head(limit).select("trace", "span").rows()
    return tuple(Evidence(str(t), str(s)) for t, s in rows)


def first_ts(*frames: pl.DataFrame) -> int | None:
    values = [int(f["ts"].min()) for f in frames if not f.is_empty()]  # type: ignore[arg-type]
    return min(values) if values else None


def any_match(patterns: Iterable[str], text: str) -> bool:
    return any(re.search(p, text, flags=re.IGNORECASE) for p in patterns)


def matching_names(patterns: dict[str, str], text: str) -> list[str]:
    return [name for name, p in patterns.items() if re.search(p, text, flags=re.IGNORECASE)]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# Targets that name a whole container (a mailbox, an account, a host, a directory tree): acting
# destructively on one of these has a blast radius far beyond any single item.
CONTAINER_TARGET = re.compile(
    r"^(mailbox|account|host|disk|volume|repo|database|db|bucket|channel|guild|server|dir):|"
    r"(/|\*|\ball\b)$",
    re.IGNORECASE,
)
