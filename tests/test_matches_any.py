"""``matches_any`` (vectorised, polars' regex engine) decides as ``any_match`` (Python's ``re``)
for the default patterns, and falls back to ``re`` for syntax polars cannot compile."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.builtin.util import CONTAINER_PATTERN, any_match, matches_any
from detectors.patterns import DEFAULT_PATTERNS

PATTERN_SETS = [
    DEFAULT_PATTERNS.destructive, DEFAULT_PATTERNS.identity_files,
    DEFAULT_PATTERNS.persistent_process, DEFAULT_PATTERNS.refusal, DEFAULT_PATTERNS.error_text,
    tuple(DEFAULT_PATTERNS.sensitive.values()), (CONTAINER_PATTERN,),
    (r"(?<=secret )\w+", r"(\w)\1{3}"),  # look-behind, back-reference: Python's re only
]
WORDS = ["rm", "-rf", "-f", "/", "drop", "TABLE", "database", "reset", "Wipe", "git", "push",
         "--force", "delete", "all", "mkfs", "MEMORY.md", "config.yaml", ".env", "mailbox:", "dir:",
         "*", "I", "can't", "won't", "decline", "internal", "server", "error", "rate", "limited",
         "nohup", "while", "true", "123-45-6789", "sk-abcdefghijklmnopqrst", "secret", "aaaa", "é", "ü"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=6).map(
    lambda words: "".join(w + (" " if i % 2 else "") for i, w in enumerate(words))), min_size=1, max_size=20))
def test_matches_any_decides_as_python_re(texts: list[str]) -> None:
    frame = pl.DataFrame({"text": texts})
    for patterns in PATTERN_SETS:
        found = frame.select(matches_any("text", patterns).alias("m"))["m"].to_list()
        assert found == [any_match(patterns, t) for t in texts], patterns
