"""Detector queries read an attribute map once, however many of its keys they use.

ClickHouse 26.3 onwards rewrites ``SpanAttributes['key']`` into a subcolumn of its own per key,
which reads the whole map once per key (ClickHouse issue 107912); detectors/context.py's
``WHOLE_MAPS`` turns that rewrite off. These tests ask the real engine (chDB) how it plans every
built-in query that reads map keys, so a query added without it fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

import detectors.builtin
from detectors import tail
from detectors.builtin import frames
from detectors.context import AGENT_FILTER, TRACE_FILTER, WINDOW_FILTER

_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")
# An empty list or window would let the engine fold the filter away, and the map reads with it.
_VALUES = {"Int64": 0, "String": "", "Array(String)": ["-"]}
_WHOLE_WINDOW = {"start_ns": 0, "end_ns": 2**62}


def map_queries() -> dict[str, str]:
    """Every public ``*_SQL`` of the built-in detectors that reads map keys, and the span tail's
    row query (as its update runs it), by name."""
    found = {"tail rows": frames.rows_sql(frames.SHARED).replace("{rows}", tail._UPDATE_ROWS)}
    for info in pkgutil.iter_modules(detectors.builtin.__path__):
        module = importlib.import_module(f"detectors.builtin.{info.name}")
        for name, value in vars(module).items():
            if name.endswith("_SQL") and isinstance(value, str) and "Attributes[" in value:
                found[f"{info.name}.{name}"] = value
    return found


def planned_columns(ch: Client, sql: str) -> list[str]:
    """The table columns (and subcolumns) the engine's query tree reads for ``sql``."""
    text = sql.replace("{window}", WINDOW_FILTER + TRACE_FILTER + AGENT_FILTER)
    parameters: dict[str, Any] = {name: _VALUES[kind] for name, kind in _PLACEHOLDER.findall(text)}
    parameters.update((k, v) for k, v in _WHOLE_WINDOW.items() if k in parameters)
    rows = ch.query("EXPLAIN QUERY TREE " + text, parameters=parameters).result_rows
    return [m.group(1) for (line,) in rows if (m := re.search(r"column_name: ([\w.]+)", line))]


def test_the_search_finds_the_shared_frames_and_the_detectors_own_queries() -> None:
    names = map_queries()
    assert {"frames.TURNS_SQL", "frames.CHATS_SQL", "tail rows", "false_completion_index.ACTS_SQL",
            "market.ORDERS_SQL", "processes.NEW_ACTS_SQL", "loops.HUMANS_SQL"} <= set(names)


@pytest.mark.parametrize("name", sorted(map_queries()))
def test_a_query_reading_map_keys_reads_the_map_whole(ch: Client, name: str) -> None:
    columns = planned_columns(ch, map_queries()[name])
    assert "SpanAttributes" in columns
    assert [c for c in columns if c.startswith("SpanAttributes.")] == [], name


def test_without_the_setting_the_engine_reads_a_subcolumn_per_key(ch: Client) -> None:
    # The guard above means something only while the engine rewrites keys into subcolumns: if
    # this fails after an upgrade, measure whether WHOLE_MAPS still helps (bench/map_reads.py).
    sql = "SELECT SpanAttributes['a'] AS a, SpanAttributes['b'] AS b FROM otel_traces WHERE {window}"
    assert {"SpanAttributes.key_a", "SpanAttributes.key_b"} <= set(planned_columns(ch, sql))
