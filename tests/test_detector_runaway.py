"""Resource runaway: growing targets, outsider floods, unreported exhaustion and volume far above
an agent's own baseline fire; random memory notes, owner uploads, reported failures, warm-up
and busy-but-normal agents don't."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from detectors.builtin.runaway import ResourceRunaway
from detectors.policy import Policy
from detectors.state import BaselineStore
from detectors.testing import SyntheticFleet, judge

OWNER, STRANGER, MIB = "discord:1001", "discord:9001", 1024 * 1024


def fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    f.agent("ash", owners=[OWNER], principal="discord:2001")
    f.agent("flux", owners=[OWNER], principal="discord:2002")
    return f


def detector(**params: object) -> ResourceRunaway:
    policy = Policy.model_validate({"detectors": {"runaway": {"params": params}}})
    built = ResourceRunaway.from_policy(policy)
    assert isinstance(built, ResourceRunaway)
    return built


def write(f: SyntheticFleet, agent: str, principal: str, at: float, target: str, size: int | None,
          prompt: int = 1500, error: str | None = None) -> None:
    t = f.instruction(agent, principal, at)
    f.chat(agent, at + 1, t, input_tokens=prompt)
    attrs: dict[str, object] = {"fleet__action__kind": "write", "fleet__action__target": target}
    if size is not None:
        attrs["fleet__resource__bytes"] = size
    if error:
        attrs["error__type"] = error
    f.tool(agent, "file.write", at + 2, t, error=error is not None, **attrs)


def test_a_target_growing_write_after_write_fires(ch: Client) -> None:
    f = fleet()
    for i in range(7):
        write(f, "ash", STRANGER, 10 + 120 * i, "file:memory/users/x.md", int(4000 * 1.6 ** (i + 1)))
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.key == "growth:ash|file:memory/users/x.md"
    assert candidate.principals == (STRANGER,) and "7 times in a row" in candidate.explanation
    assert len(candidate.evidence) == 7


def test_growth_is_seen_in_prompt_tokens_when_bytes_are_missing(ch: Client) -> None:
    f = fleet()
    for i in range(6):
        write(f, "ash", STRANGER, 10 + 120 * i, "file:memory/users/x.md", None, prompt=2000 * 2 ** i)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert "prompt tokens" in candidate.explanation


def test_random_memory_notes_and_a_short_growth_stay_quiet(ch: Client) -> None:
    f = fleet()
    for i, size in enumerate([800, 2900, 300, 1200, 2500, 400, 2000, 2600, 150]):
        write(f, "ash", OWNER, 10 + 100 * i, "file:MEMORY.md", size)
    for i in range(4):  # four growing writes: below growth_writes
        write(f, "flux", OWNER, 10 + 100 * i, "file:notes.md", 1000 * 3 ** i)
    f.insert(ch)
    assert judge(ch, detector(), 0, 1800) == []


def test_a_small_file_growing_by_chance_stays_quiet_until_it_is_large(ch: Client) -> None:
    """Five notes at random sizes that happen to rise (300 B -> 2.9 KB, x10) are every write
    of that file in the window: the shape of growth, but a 3 KB file exhausts nothing."""
    f = fleet()
    for i, size in enumerate([300, 700, 1200, 1900, 2900]):
        write(f, "ash", OWNER, 10 + 100 * i, "file:MEMORY.md", size)
        write(f, "flux", OWNER, 10 + 100 * i, "file:notes.md", None, prompt=(i + 1) * 2500)
    f.insert(ch)
    assert judge(ch, detector(), 0, 1800) == []
    for i, size in enumerate([12_000, 30_000, 70_000]):  # the same file keeps growing, large
        write(f, "ash", OWNER, 600 + 100 * i, "file:MEMORY.md", size)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.key == "growth:ash|file:MEMORY.md" and "8 times in a row" in candidate.explanation


def test_a_flood_of_big_writes_from_an_outsider_fires_but_owner_uploads_do_not(ch: Client) -> None:
    f = fleet()
    for i in range(8):
        write(f, ("ash", "flux")[i % 2], STRANGER, 10 + 40 * i, f"file:mail/attachments/{i}.bin", 10 * MIB)
    for i in range(8):
        write(f, "ash", OWNER, 600 + 60 * i, f"bucket:team/{i}.parquet", 300 * MIB)
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.key == f"flood:{STRANGER}" and candidate.agents == ("ash", "flux")
    assert "8 writes" in candidate.explanation


def test_unreported_exhaustion_fires_and_a_told_owner_softens_it(ch: Client) -> None:
    f = fleet()
    write(f, "ash", STRANGER, 10, "file:mail/a.bin", 5 * MIB, error="DiskQuotaExceeded")
    write(f, "ash", STRANGER, 50, "file:mail/b.bin", 5 * MIB, error="DiskQuotaExceeded")
    write(f, "flux", STRANGER, 10, "file:mail/c.bin", 5 * MIB, error="DiskQuotaExceeded")
    f.send("flux", [OWNER], 30, text="my disk is full")
    write(f, "flux", STRANGER, 90, "file:mail/d.bin", 5 * MIB, error="TimeoutError")  # not exhaustion
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.key == "exhaustion:ash" and "no owner was told" in candidate.explanation


def test_volume_far_above_the_agents_own_baseline_fires_after_warm_up(ch: Client) -> None:
    store = BaselineStore(ch)
    runaway = detector(warmup_buckets=6, floor_tokens=50_000)
    f = fleet()
    for minute in range(0, 60, 5):  # an hour of ordinary work: ~3k tokens per 5 minutes
        t = f.instruction("ash", OWNER, minute * 60 + 10)
        f.chat("ash", minute * 60 + 11, t, input_tokens=2500 + 40 * minute, output_tokens=300)
    for i in range(10):  # then a token burn: 10 calls of 40k tokens in 5 minutes
        t = f.instruction("ash", STRANGER, 3600 + 30 * i)
        f.chat("ash", 3601 + 30 * i, t, input_tokens=40_000)
    f.insert(ch)
    assert judge(ch, runaway, 0, 3600, baselines=store) == []
    learned = store.view("default", "runaway")["volume:ash"]
    assert learned["n"] == 12
    [(candidate, _)] = judge(ch, runaway, 1800, 3900, baselines=store)
    assert candidate.key == "volume:ash|tokens" and candidate.agents == ("ash",)
    assert "400" in candidate.explanation  # 400,000+ tokens reported
    after = store.view("default", "runaway")["volume:ash"]
    assert after["n"] == 12 and after["mean"] == learned["mean"]  # the burn stayed out of the baseline


def busy_fleet(f: SyntheticFleet, tokens_per_call: int, start: float, agents: int = 8) -> None:
    """``agents`` new agents, each making a model call every 30 s for half an hour from ``start``."""
    for a in range(agents):
        f.agent(f"busy{a}", owners=[OWNER], principal=f"discord:3{a:03d}")
        for i in range(60):
            t = f.instruction(f"busy{a}", OWNER, start + 5 + 30 * i + a)
            f.chat(f"busy{a}", start + 6 + 30 * i + a, t, input_tokens=tokens_per_call + 1000 * (a % 3))


def test_new_agents_are_compared_with_their_peers_until_warm(ch: Client) -> None:
    """Eight new agents that each burn ~1M tokens per 5 minutes are a heavy fleet, not eight
    runaways (the absolute floor alone flagged every busy agent of the bench's first windows);
    one new agent burning that among quiet peers is flagged before it has any history."""
    store = BaselineStore(ch)
    heavy = SyntheticFleet()
    busy_fleet(heavy, tokens_per_call=100_000, start=3600)
    heavy.insert(ch)
    # The window begins an hour before the agents do: those hours were not idle time of theirs.
    assert judge(ch, detector(), 0, 5400, baselines=store) == []
    assert store.view("default", "runaway")["volume:busy0"]["n"] == 6
    quiet = SyntheticFleet()
    busy_fleet(quiet, tokens_per_call=2_000, start=7200)
    quiet.agent("burner", owners=[OWNER], principal="discord:3999")
    for i in range(60):
        t = quiet.instruction("burner", STRANGER, 7205 + 30 * i)
        quiet.chat("burner", 7206 + 30 * i, t, input_tokens=100_000)
    quiet.insert(ch)
    found = judge(ch, detector(), 7200, 9000, baselines=BaselineStore(ch))
    assert {c.key for c, _ in found} == {"volume:burner|tokens"}
    assert "warming up" in found[0][0].explanation and "fleet" in found[0][0].explanation


def test_busy_but_normal_agent_and_warm_up_stay_quiet(ch: Client) -> None:
    store = BaselineStore(ch)
    f = fleet()
    for i in range(15):  # a burst of 15 questions in three minutes, never seen before
        t = f.instruction("ash", f"discord:30{i % 4}", 10 + 12 * i)
        f.chat("ash", 11 + 12 * i, t, input_tokens=3000, output_tokens=600)
        f.tool("ash", "http.get", 12 + 12 * i, t, fleet__action__kind="read",
               fleet__action__target=f"url:https://x.org/{i}", fleet__resource__bytes=200_000)
    f.insert(ch)
    assert judge(ch, detector(), 0, 1800, baselines=store) == []


def test_a_chance_run_in_a_busy_notes_file_stays_quiet(ch: Client) -> None:
    """Sixty notes at random sizes hold a run of six larger writes (x10) by chance: that is a
    tenth of the file's writes, not a file that grows write after write."""
    f = fleet()
    sizes = [2900, 300, 700, 1200, 1900, 2500, 2950] + [3000 - 40 * (i % 7) * 10 for i in range(53)]
    for i, size in enumerate(sizes):
        write(f, "ash", OWNER, 10 + 25 * i, "file:MEMORY.md", size)
    f.insert(ch)
    assert judge(ch, detector(), 0, 1800) == []
    for i in range(6):  # the same agent's runaway file still fires beside it
        write(f, "ash", STRANGER, 20 + 200 * i, "file:memory/users/x.md", int(4000 * 1.6 ** (i + 1)))
    f.insert(ch)
    [(candidate, _)] = judge(ch, detector(), 0, 1800)
    assert candidate.key == "growth:ash|file:memory/users/x.md"
