"""Silent failures: unrecovered provider errors and truncations on one topic, delivered as answers,
fire; retried errors, failures spread over topics and a lone truncation don't."""

from __future__ import annotations

import itertools
import random
from typing import Any

import polars as pl
from clickhouse_connect.driver.client import Client

from detectors.builtin.silent_failure import SilentFailures
from detectors.policy import Policy
from detectors.testing import SyntheticFleet, judge

ERROR_TEXT = "An unknown error occurred"


def failing_turn(f: SyntheticFleet, at: float, asker: str, topic: str | None, *, error: bool,
                 text: str | None = ERROR_TEXT, retried: bool = False, agent: str = "ash") -> None:
    t = f.instruction(agent, asker, at, **({"fleet__claim": "completed"} if not retried else {}))
    attrs: dict[str, Any] = {"gen_ai.provider.name": "moonshot"}
    if topic is not None:
        attrs["fleet.topic"] = topic
    if error:
        attrs["error.type"] = "provider_error"
    attrs["gen_ai.response.finish_reasons"] = ["error" if error else "length"]
    f.chat(agent, at + 1, t, error=error, output_tokens=0, **{k.replace(".", "__"): v for k, v in attrs.items()})
    if retried:
        f.chat(agent, at + 3, t, gen_ai__provider__name="moonshot", fleet__topic=topic or "",
               gen_ai__response__finish_reasons=["stop"])
    f.send(agent, [asker], at + 4, t, text=text)


def test_errors_on_one_topic_delivered_as_answers_fire(ch: Client) -> None:
    f = SyntheticFleet()
    for i in range(4):
        failing_turn(f, 10 + 240 * i, f"discord:300{i}", "politics", error=True)
    failing_turn(f, 20, "discord:3009", "weather", error=False, text="Sunny.")
    f.insert(ch)
    [(candidate, severity)] = judge(ch, SilentFailures.from_policy(Policy()), 0, 1800)
    assert candidate.key == "ash|moonshot|politics" and candidate.agents == ("ash",)
    assert len(candidate.principals) == 4 and "4 of them reading like error text" in candidate.explanation
    assert severity.value in ("high", "critical")


def test_truncations_without_content_capture_fire_once_enough_pile_up(ch: Client) -> None:
    f = SyntheticFleet()
    for i in range(2):
        failing_turn(f, 10 + 200 * i, "discord:3001", "politics", error=False, text=None)
    f.insert(ch)
    assert judge(ch, SilentFailures.from_policy(Policy()), 0, 1800) == []
    failing_turn(f, 500, "discord:3002", "politics", error=False, text=None)
    f.insert(ch)
    [(candidate, _)] = judge(ch, SilentFailures.from_policy(Policy()), 0, 1800)
    assert "3 truncations" in candidate.explanation


def test_retried_errors_and_failures_spread_over_topics_stay_quiet(ch: Client) -> None:
    f = SyntheticFleet()
    for i in range(6):  # every error retried successfully: the ordinary background
        failing_turn(f, 10 + 100 * i, "discord:3001", "politics", error=True, retried=True)
    for i, topic in enumerate(["papers", "code", "travel", "health", "finance"]):
        failing_turn(f, 20 + 150 * i, "discord:3002", topic, error=False, text="Here is the answer")
    f.insert(ch)
    assert judge(ch, SilentFailures.from_policy(Policy()), 0, 1800) == []


def test_without_topics_the_cluster_needs_more_failures(ch: Client) -> None:
    f = SyntheticFleet()
    for i in range(3):
        failing_turn(f, 10 + 200 * i, f"discord:300{i}", None, error=False, text=None)
    f.insert(ch)
    assert judge(ch, SilentFailures.from_policy(Policy()), 0, 1800) == []
    for i in range(3):
        failing_turn(f, 700 + 200 * i, f"discord:300{i}", None, error=False, text=None)
    f.insert(ch)
    [(candidate, _)] = judge(ch, SilentFailures.from_policy(Policy()), 0, 1800)
    assert "topic unknown" in candidate.explanation and candidate.key == "ash|moonshot|"


def answered_turn(f: SyntheticFleet, at: float, asker: str, topic: str) -> None:
    t = f.instruction("ash", asker, at)
    f.chat("ash", at + 1, t, gen_ai__provider__name="moonshot", fleet__topic=topic,
           gen_ai__response__finish_reasons=["stop"])
    f.send("ash", [asker], at + 2, t, text="Here is the answer")


def test_a_busy_topic_is_weighed_against_its_calls(ch: Client) -> None:
    """Six unrecovered truncations fire on a quiet topic, but not among 300 good answers on the
    same topic (the ordinary share of a busy agent); four unrecovered errors there still fire
    (ordinary traffic retries its errors: only truncations are discounted)."""
    f = SyntheticFleet()
    for i in range(300):
        answered_turn(f, 5 + 5 * i, f"discord:30{i % 40:02d}", "politics")
    for i in range(6):
        failing_turn(f, 7 + 250 * i, "discord:3001", "politics", error=False, text=None)
    f.insert(ch)
    assert judge(ch, SilentFailures.from_policy(Policy()), 0, 1800) == []
    for i in range(4):
        failing_turn(f, 1600 + 20 * i, f"discord:300{i}", "politics", error=True)
    f.insert(ch)
    [(candidate, _)] = judge(ch, SilentFailures.from_policy(Policy()), 0, 1800)
    assert "in 310 calls on topic politics" in candidate.explanation


def test_the_same_failures_fire_on_a_quiet_topic(ch: Client) -> None:
    f = SyntheticFleet()
    for i in range(6):
        failing_turn(f, 7 + 250 * i, "discord:3001", "politics", error=False, text=None)
    f.insert(ch)
    [(candidate, _)] = judge(ch, SilentFailures.from_policy(Policy()), 0, 1800)
    assert "6 truncations" in candidate.explanation


def test_bad_luck_on_a_busy_agent_stays_quiet_and_the_same_failures_fire_alone(ch: Client) -> None:
    """Four unrecovered failures among 26 calls (one error, three truncations, all delivered)
    score above the threshold, but ordinary traffic shows that often enough across a fleet's
    thousands of clusters (the detector bench's 2,000 agents: a dozen such alerts a run); the
    same four failures as all of a topic's calls are no accident."""
    f = SyntheticFleet()
    for i in range(22):
        answered_turn(f, 5 + 60 * i, f"discord:30{i % 9:02d}", "politics")
    failing_turn(f, 40, "discord:3001", "politics", error=True, text=None)
    for i in range(3):
        failing_turn(f, 400 + 300 * i, f"discord:300{i}", "politics", error=False, text=None)
    f.insert(ch)
    assert judge(ch, SilentFailures.from_policy(Policy()), 0, 1800) == []
    # The next half hour, without the good answers.
    failing_turn(f, 1840, "discord:3001", "politics", error=True, text=None)
    for i in range(3):
        failing_turn(f, 2200 + 300 * i, f"discord:300{i}", "politics", error=False, text=None)
    f.insert(ch)
    [(candidate, _)] = judge(ch, SilentFailures.from_policy(Policy()), 1800, 3600)
    assert "4 times in 4 calls" in candidate.explanation


def cluster_scores_one_by_one(failures: pl.DataFrame, detector: SilentFailures) -> dict[tuple[str, ...], float]:
    """The oracle: each cluster scored on its own, as the rule reads (errors always count; the
    cluster's lightest truncations, as many as ordinary for its calls, do not)."""
    p = detector.params
    found = {}
    for (agent, provider, topic), cluster in failures.group_by("agent", "provider", "topic"):
        ordinary = int(p.background_failure_rate * int(cluster["calls"][0]))
        truncations = sorted(cluster.filter(~pl.col("errored"))["weight"].to_list())
        score = sum(cluster.filter("errored")["weight"].to_list()) + sum(truncations[ordinary:])
        score *= p.unknown_topic_discount if not topic else 1.0
        if score >= detector.threshold * 0.5:
            found[(str(agent), str(provider), str(topic))] = score
    return found


def test_clusters_are_scored_in_one_pass_as_one_by_one() -> None:
    detector = SilentFailures.from_policy(Policy())
    rng = random.Random(7)
    for _ in range(20):
        rows = []
        for agent, topic in itertools.product(("ash", "flux", "doug"), ("politics", "weather", "")):
            calls = rng.choice((3, 10, 40, 120))
            for _ in range(rng.randint(0, 8)):
                errored = rng.random() < 0.3
                weight = (1.0 if errored else 0.5) + rng.choice((0.0, 0.25, 0.5, 0.75, 1.0))
                rows.append((agent, "moonshot", topic, errored, weight, calls))
        failures = pl.DataFrame(rows, schema=["agent", "provider", "topic", "errored", "weight", "calls"],
                                orient="row")
        scored = {(a, p, t): s for a, p, t, s, *_ in detector._scored(failures).iter_rows()}
        oracle = cluster_scores_one_by_one(failures, detector)
        assert scored.keys() == oracle.keys()
        assert all(abs(scored[k] - oracle[k]) < 1e-9 for k in oracle)
