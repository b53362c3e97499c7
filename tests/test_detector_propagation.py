"""Propagation: a non-owner's document adopted by a peer agent along a message fires with its
chain; owner-taught scripts (CS9), sharing nobody acts on, and a feed every agent reads do not."""

from __future__ import annotations

import random

import polars as pl
import pytest
from clickhouse_connect.driver.client import Client

from detectors.builtin.propagation import Propagation
from detectors.builtin.propagation_lineage import URL, holdings
from detectors.context import Baseline, EvalContext
from detectors.model import Window
from detectors.policy import Policy
from detectors.state import BaselineStore
from detectors.testing import ORIGIN_NS, SyntheticFleet, judge

OWNER, EDITOR = "discord:1001", "discord:9001"
ASH, FLUX, MIRA = "discord:2001", "discord:2002", "discord:2003"
DOC = "url:https://docs.example.net/d/42/constitution"


def fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    for name, principal in (("ash", ASH), ("flux", FLUX), ("mira", MIRA)):
        f.agent(name, owners=[OWNER], principal=principal)
    return f


def detector() -> Propagation:
    return Propagation.from_policy(Policy())  # type: ignore[return-value]


def test_a_non_owners_document_spreading_to_peers_fires_with_its_chain(ch: Client) -> None:
    f = fleet()
    t = f.instruction("ash", EDITOR, 10)
    f.tool("ash", "http.get", 11, t, fleet__action__kind="read", fleet__action__target=DOC)
    beat = f.instruction("ash", "", 900, channel="system:heartbeat")
    f.send("ash", [FLUX], 901, beat)  # content capture off: the URL is not in the message
    got = f.instruction("flux", ASH, 930)
    f.tool("flux", "web.fetch", 931, got, fleet__action__target=DOC)  # renamed tool, no kind
    f.tool("flux", "file.write", 932, got, fleet__action__kind="write",
           fleet__action__target="file:MEMORY.md")
    f.send("flux", [MIRA], 1200, got, text=f"adopt this: {DOC[4:]}")
    hop = f.instruction("mira", FLUX, 1230)
    f.tool("mira", "http.get", 1231, hop, fleet__action__kind="read", fleet__action__target=DOC)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.labels["chain"] == "ash -> flux -> mira" and candidate.labels["hops"] == "2"
    assert candidate.principals == (EDITOR,)
    assert f"on the word of non-owner {EDITOR}" in candidate.explanation
    assert "1 identity/memory write" in candidate.explanation
    assert len(candidate.labels["first_seen"].split(",")) == 3


def test_an_owner_taught_script_and_unused_tips_stay_quiet(ch: Client) -> None:
    f = fleet()
    script = "curl -L -o paper.pdf https://arxiv.example.org/pdf/$ID"
    taught = f.instruction("ash", OWNER, 10)
    f.send("ash", [FLUX], 11, taught, text=f"Here's my setup: {script}")
    learn = f.instruction("flux", ASH, 70)
    f.tool("flux", "file.write", 71, learn, fleet__action__kind="write",
           fleet__action__target="file:skills/download.sh", gen_ai__tool__call__arguments={"content": script})
    f.tool("flux", "shell", 72, learn, fleet__action__kind="execute", fleet__action__target="host:flux")
    tip = f.instruction("ash", EDITOR, 100)
    f.send("ash", [MIRA], 101, tip, text="Read https://wiki.example.org/tips sometime")
    f.instruction("mira", ASH, 130)  # reads the tip, does nothing with it
    f.insert(ch)
    assert judge(ch, detector(), 0, 600) == []
    [candidate] = detector().candidates(_context(ch))  # the lineage is seen, scored benign
    assert candidate.labels["chain"] == "ash -> flux" and candidate.score < 0.8


def test_a_feed_every_agent_reads_is_a_common_tool_not_a_lineage(ch: Client) -> None:
    f = fleet()
    feed = "url:https://feeds.example.org/lab.rss"
    for index, agent in enumerate(("ash", "flux", "mira")):
        cron = f.instruction(agent, "", 10 + index * 50, channel="system:cron")
        f.tool(agent, "http.get", 11 + index * 50, cron, fleet__action__kind="read", fleet__action__target=feed)
    talk = f.instruction("flux", ASH, 300)  # a message from ash, then flux reads the feed again
    f.tool("flux", "http.get", 301, talk, fleet__action__kind="read", fleet__action__target=feed)
    f.insert(ch)
    assert detector().candidates(_context(ch)) == []


def _context(ch: Client) -> EvalContext:
    window = Window("default", ORIGIN_NS, ORIGIN_NS + 600 * 10**9)
    return EvalContext(ch, window, Policy(), Baseline(BaselineStore(ch), "default", "propagation"))


def _holdings_one_row_at_a_time(acts: pl.DataFrame, sends: pl.DataFrame) -> list[tuple[object, ...]]:
    """The mentions as the first version found them, a row at a time: the oracle for the
    whole-column version (mentions at one instant in the order they were read)."""
    rows: list[tuple[object, ...]] = []

    def row(r: dict[str, object], item: str, used: bool, from_target: bool) -> None:
        rows.append((r["agent"], item.rstrip(".,;:"), r["ts"], r["trace"], r["span"], r["instructor"],
                     used, from_target))

    for r in acts.iter_rows(named=True):
        if str(r["target"]).startswith("url:"):
            row(r, str(r["target"]), True, True)
        for url in URL.findall(f"{r['arguments']} {r['result']}"):
            row(r, f"url:{url}", True, False)
    for r in sends.iter_rows(named=True):
        for url in URL.findall(str(r["text"])):
            row(r, f"url:{url}", False, False)
    return sorted(rows, key=lambda r: r[2])  # type: ignore[arg-type,return-value]  # stable, by ts


@pytest.mark.parametrize("seed", range(10))
def test_holdings_finds_the_mentions_a_row_by_row_reading_finds(seed: int) -> None:
    rng = random.Random(seed)
    texts = ["", "see https://a.example/x.", "https://b.example/y; and http://c.example/z,",
             "no link", "(https://d.example/p) 'https://e.example/q'", None]
    common = {"agent": pl.String, "ts": pl.Int64, "trace": pl.String, "span": pl.String,
              "instructor": pl.String}

    def frame(n: int, text_columns: dict[str, list[str | None]]) -> pl.DataFrame:
        data: dict[str, list[object]] = {
            "agent": [rng.choice(["a", "b", "c"]) for _ in range(n)],
            "ts": [rng.randrange(5) for _ in range(n)],  # many mentions share an instant
            "trace": [f"t{i}" for i in range(n)], "span": [f"s{i}" for i in range(n)],
            "instructor": [rng.choice(["", "p1", "p2"]) for _ in range(n)], **text_columns}
        return pl.DataFrame(data, schema=common | {k: pl.String for k in text_columns})

    n_acts, n_sends = rng.randrange(0, 40), rng.randrange(0, 40)
    acts = frame(n_acts, {
        "target": [rng.choice(["url:https://a.example/x", "file:x", "url:https://f.example/.", None])
                   for _ in range(n_acts)],
        "arguments": [rng.choice(texts) for _ in range(n_acts)],
        "result": [rng.choice(texts) for _ in range(n_acts)]})
    sends = frame(n_sends, {"text": [rng.choice(texts) for _ in range(n_sends)]})
    assert holdings(acts, sends).rows() == _holdings_one_row_at_a_time(acts, sends)
