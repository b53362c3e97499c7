"""Small helpers shared by the built-in detectors."""

from __future__ import annotations

import functools
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


def matches_any(column: str, patterns: Iterable[str]) -> pl.Expr:
    """``any_match`` over a string column, vectorised: a full window holds millions of tool
    calls, and a Python call per value took most of a window's time. Each pattern runs in
    polars' regex engine (case-insensitive, as ``any_match``); one that engine cannot compile
    (look-around, back-references: Python syntax a policy may use) runs through ``re`` per value."""
    found = pl.lit(False)
    for pattern in patterns:
        if _polars_can_compile(pattern):
            found = found | pl.col(column).str.contains(f"(?i){pattern}")
        else:
            found = found | pl.col(column).map_elements(
                functools.partial(_python_match, pattern), return_dtype=pl.Boolean)
    return found


def _python_match(pattern: str, text: str) -> bool:
    return bool(re.search(pattern, text, flags=re.IGNORECASE))


@functools.cache
def _polars_can_compile(pattern: str) -> bool:
    try:
        pl.Series([""]).str.contains(f"(?i){pattern}")
    except pl.exceptions.ComputeError:
        return False
    return True


def matching_names(patterns: dict[str, str], text: str) -> list[str]:
    return [name for name, p in patterns.items() if re.search(p, text, flags=re.IGNORECASE)]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# Targets that name a whole container (a mailbox, an account, a host, a directory tree): acting
# destructively on one of these has a blast radius far beyond any single item.
CONTAINER_PATTERN = (r"^(mailbox|account|host|disk|volume|repo|database|db|bucket|channel|guild|server|dir):|"
                     r"(/|\*|\ball\b)$")
CONTAINER_TARGET = re.compile(CONTAINER_PATTERN, re.IGNORECASE)
