"""Sliced full-window reads (detectors/slices.py) return exactly what one read returns.

The sweep thread reads row-level queries and the fleet directory slice by slice so that a live
query waits behind one slice; these tests hold the slices against the whole read on the real
engine (chDB), with spans placed on the slice edges, and every built-in detector's candidates.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from clickhouse_connect.driver.client import Client
from hypothesis import given
from hypothesis import strategies as st

from detectors.builtin import frames
from detectors.builtin.catalogue import builtin_registry
from detectors.builtin.false_completion_index import ACTS_SQL, CLAIMS_SQL
from detectors.builtin.loops import MESSAGES_SQL
from detectors.builtin.market import ORDERS_SQL
from detectors.context import EvalContext, ScratchBaseline
from detectors.model import Window
from detectors.policy import Policy
from detectors.slices import Slicing, slice_bounds, sliceable
from detectors.state import BaselineStore
from detectors.testing import ORIGIN_NS, SyntheticFleet

SLICE_S = 42  # every other relay turn (each 21 s) starts exactly on a slice edge
OWNER, STRANGER = "discord:1001", "discord:9001"
PRINCIPALS = {"ash": "discord:2001", "flux": "discord:2002", "mira": "discord:2003"}


def busy_fleet() -> SyntheticFleet:
    """Ten minutes of mixed traffic: a relay loop, a stranger's deletions, a broadcast, failed
    model calls, completion claims, market orders; some spans exactly on slice edges."""
    f = SyntheticFleet()
    for agent, principal in PRINCIPALS.items():
        f.agent(agent, owners=[OWNER], principal=principal, name=agent.title())
    for i in range(24):  # relay: every 21 s, a multiple of the slice
        sender, receiver = ("ash", "flux") if i % 2 == 0 else ("flux", "ash")
        turn = f.instruction(receiver, PRINCIPALS[sender], 21.0 * i, gen_ai__conversation__id="c1",
                             fleet__claim="completed" if i % 5 == 0 else "",
                             fleet__claim__subject=f"file:report-{i}")
        f.chat(receiver, 21.0 * i + 0.5, turn, input_tokens=2000, output_tokens=300,
               error=i % 7 == 0, error__type="timeout" if i % 7 == 0 else "")
        f.send(receiver, [PRINCIPALS[sender]], 21.0 * i + 1, turn, text=f"reply {i}")
    rude = f.instruction("mira", STRANGER, 70, name="Mallory")
    for k in range(12):
        f.tool("mira", "email.delete", 70 + k * 3.5, rude, fleet__action__kind="delete",
               fleet__action__target=f"email:{k}")
    news = f.instruction("mira", OWNER, 300)
    f.send("mira", [f"discord:{3000 + k}" for k in range(40)], 301, news, text="everyone: read this")
    for k in range(30):
        f.tool("ash", "market.order", 400 + k * 7, f.new_trace(), fleet__market__id="m1",
               fleet__market__action="ask", fleet__market__price=100 - k)
    f.tool("flux", "file.write", 140, f.new_trace(), fleet__action__target="file:report-5")
    return f


def context(client: Client, start_s: float, end_s: float, slicing: Slicing | None) -> EvalContext:
    window = Window("default", ORIGIN_NS + int(start_s * 1e9), ORIGIN_NS + int(end_s * 1e9))
    baseline = ScratchBaseline(BaselineStore(client), "default", "any")
    return EvalContext(client, window, Policy(), baseline, slicing=slicing)


def counting_slicing(pauses: list[float]) -> Slicing:
    return Slicing(SLICE_S * 1_000_000_000, pauses.append, above_spans=0)  # these windows are small


def same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    order = [c for c in ("ts", "span", "trace") if c in a.columns]
    return a.schema == b.schema and a.sort(order).equals(b.sort(order))


def test_row_level_frames_sliced_equal_one_read(ch: Client) -> None:
    busy_fleet().insert(ch)
    queries = [frames.TURNS_SQL, frames.TOOLS_SQL, frames.SENDS_SQL, frames.CHATS_SQL, CLAIMS_SQL,
               ORDERS_SQL]
    for sql in queries:
        pauses: list[float] = []
        whole = context(ch, 0, 600, None).frame(sql)
        sliced = context(ch, 0, 600, counting_slicing(pauses)).frame(sql)
        assert whole.height > 0
        assert same_rows(whole, sliced), sql
        assert sliced["ts"].is_sorted()  # ORDER BY ts holds across the slices
        assert len(pauses) == len(slice_bounds(ORIGIN_NS, ORIGIN_NS + 600 * 10**9, SLICE_S * 10**9)) - 1
    whole = context(ch, 0, 600, None).frame(MESSAGES_SQL, senders=sorted(PRINCIPALS.values()))
    sliced = context(ch, 0, 600, counting_slicing([])).frame(MESSAGES_SQL, senders=sorted(PRINCIPALS.values()))
    assert whole.height == 24 and same_rows(whole, sliced)


def test_window_in_a_subquery_is_read_whole(ch: Client) -> None:
    busy_fleet().insert(ch)
    assert not sliceable(ACTS_SQL) and sliceable(frames.TURNS_SQL)
    pauses: list[float] = []
    whole = context(ch, 0, 600, None).frame(ACTS_SQL)
    sliced = context(ch, 0, 600, counting_slicing(pauses)).frame(ACTS_SQL)
    assert pauses == [] and same_rows(whole, sliced)


def test_directory_sliced_equals_one_read(ch: Client) -> None:
    busy_fleet().insert(ch)
    whole = context(ch, 0, 600, None).directory()
    sliced = context(ch, 0, 600, counting_slicing([])).directory()
    assert set(whole.agents) == {"ash", "flux", "mira"}
    assert whole.agents == sliced.agents


def test_every_detector_finds_the_same_sliced(ch: Client) -> None:
    busy_fleet().insert(ch)
    found: dict[str, list[Any]] = {}
    for detector in builtin_registry(Policy()):
        whole = list(detector.candidates(context(ch, 0, 600, None)))
        sliced = list(detector.candidates(context(ch, 0, 600, counting_slicing([]))))
        assert whole == sliced, detector.name
        found[detector.name] = whole
    # The fleet is not empty for the detectors: the comparison covers real findings.
    assert found["loops"] and found["authority"] and found["false_completion"]


@given(start=st.integers(0, 10**12), length=st.integers(1, 10**12), slices=st.integers(1, 500))
def test_slice_bounds_cover_the_range_in_order(start: int, length: int, slices: int) -> None:
    size = max(1, length // slices)  # at most ~500 slices (a tiny size would make billions)
    bounds = slice_bounds(start, start + length, size)
    assert len(bounds) <= length // size + 2
    assert bounds[0][0] == start and bounds[-1][1] == start + length
    assert all(low < high for low, high in bounds)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(high % size == 0 for _, high in bounds[:-1])  # cut at multiples of the slice


def test_small_windows_are_read_whole(ch: Client) -> None:
    """Each slice costs a query's fixed overhead: a window of few spans is one query."""
    spans = busy_fleet().insert(ch)
    pauses: list[float] = []
    few = Slicing(SLICE_S * 1_000_000_000, pauses.append, above_spans=spans)
    assert context(ch, 0, 600, few).frame(frames.TURNS_SQL).height > 0 and pauses == []
    context(ch, 0, 600, counting_slicing(pauses)).frame(frames.TURNS_SQL)
    assert pauses  # the same window, over the threshold, is sliced
