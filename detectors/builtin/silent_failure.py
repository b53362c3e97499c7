"""Silent failures (CS6): a model provider errors or truncates on one topic, and the agent hands
the failure to its users as if it were an answer.

A model call failed when it carries ``error.type``, span status ERROR, or finish reason
``error``/``length``/``content_filter``. It is *recovered* when a later call in the same turn
succeeded (the ordinary retry: the benign background has ~1.5% provider errors, all retried);
recovered failures do not count. Unrecovered ones are clustered per (agent, provider,
``fleet.topic``) and weighed: an error more than a truncation, more again when a reply was sent
after it, when the turn claimed ``completed``, and when the reply or the model output reads like
provider error text (``patterns.error_text``, where content is captured). Random truncations
spread over topics never pile up in one cluster; without ``fleet.topic`` every failure of an
agent's provider falls in one cluster, so its score is discounted. A busy agent's cluster holds
many calls, and ordinary traffic leaves a few of them truncated without a retry: a cluster
scores its truncations beyond the number ordinary for its calls (``background_failure_rate``
times the calls, rounded down; the lightest are the ones discounted) and every unrecovered
error (ordinary traffic retries those), so truncations normal for a thousand calls are not an
incident, while errors delivered as answers are.

A score alone cannot tell a small cluster's bad luck from a failure: 2,000 agents hold ~16,000
clusters, and somewhere four of an agent's 26 calls go unrecovered by chance. So a cluster also
has to be improbable: under a binomial background (``chance_truncation_rate`` per call for
failures of any kind, ``chance_error_rate`` for unrecovered errors alone), the chance of at
least its count of failures, or of its errors, must be at most ``chance_alpha``.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import binom

from detectors.base import Detector
from detectors.builtin import frames
from detectors.builtin.util import evidence, first_ts, matches_any, plural
from detectors.context import EvalContext
from detectors.model import Candidate, Requirement

FAILED_FINISH = r'"(error|length|content_filter)"'
CLUSTER = ("agent", "provider", "topic")


class SilentFailureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weight_error: float = 1.0
    weight_truncation: float = 0.5
    weight_delivered: float = 0.25  # a reply went out after the failed call
    weight_claimed: float = 0.25  # and the turn claimed the task completed
    weight_error_text: float = 0.5  # the reply reads like a provider error message
    unknown_topic_discount: float = 0.5
    # Unrecovered truncations per model call that ordinary traffic shows: that many of a
    # cluster's truncations, the lightest, do not count.
    background_failure_rate: float = 0.05
    # The chance gate: a cluster fires only if ordinary traffic would show at least its
    # failures (or at least its errors) with probability at most chance_alpha.
    chance_truncation_rate: float = Field(default=0.02, gt=0, lt=1)
    chance_error_rate: float = Field(default=0.0003, gt=0, lt=1)
    chance_alpha: float = Field(default=1e-5, gt=0, le=1)


class SilentFailures(Detector[SilentFailureParams]):
    name = "silent_failures"
    summary = "provider errors and truncations on one topic delivered to users as answers"
    params_model = SilentFailureParams
    requirements = (
        Requirement(("gen_ai.response.finish_reasons", "error.type"), "whether a model call failed"),
        Requirement(("fleet.topic",), "which topic a model call was about"),
    )
    default_window_seconds = 1800
    default_slide_seconds = 30
    default_threshold = 3.0
    # A cluster is one agent's: all its spans in the window give the full window's score, and
    # the score only sums failures.
    early_by_agent = True
    # Judged live once the changed traces settled: a later retry in the turn can succeed.
    live_settle = True

    def live_agents(self, ctx: EvalContext) -> set[str]:
        """Agents with an unrecovered failure in the changed traces that was an error or was
        followed by a completion claim (ordinary truncations alone do not re-judge an agent)."""
        failures = _unrecovered(_classified(frames.chats(ctx)))
        if failures.is_empty():
            return set()
        claimed = frames.turns(ctx).filter(pl.col("claim") == "completed")["trace"]
        notable = failures.filter(pl.col("errored") | pl.col("trace").is_in(claimed.implode()))
        return set(notable["agent"].to_list())

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        failures = _unrecovered(_classified(frames.chats(ctx)))
        if failures.is_empty():
            return []
        per_cluster = frames.chats(ctx).group_by(*CLUSTER).len("calls")
        failures = self._weigh(ctx, failures).join(per_cluster, on=CLUSTER, how="left")
        found = []
        for agent, provider, topic, score, count, errors, calls in self._scored(failures).iter_rows():
            if not self._improbable(count, errors, calls):
                continue
            cluster = failures.filter(pl.col("agent") == agent, pl.col("provider") == provider,
                                      pl.col("topic") == topic)
            found.append(self._candidate(str(agent), str(provider), str(topic), cluster, score,
                                         calls, errors))
        return found

    def _scored(self, failures: pl.DataFrame) -> pl.DataFrame:
        """Per cluster (agent, provider, topic): its score, failures, errors and calls; only
        clusters scoring at least half the threshold. Ordinary traffic truncates, and its
        provider errors are retried: so only truncations are discounted as background
        (``background_failure_rate`` times the cluster's calls, the lightest first), and an
        unrecovered error always counts.
        One pass over every cluster: a live evaluation's few agents hold a hundred clusters, and
        judging each in Python kept the agent lane busy."""
        p = self.params
        ordinary = (pl.col("calls") * p.background_failure_rate).floor()
        lightest_first = pl.col("weight").rank("ordinal").over(*CLUSTER, "errored")
        counted = pl.col("errored") | (lightest_first > ordinary)
        discount = pl.when(pl.col("topic") == "").then(p.unknown_topic_discount).otherwise(1.0)
        return failures.group_by(CLUSTER).agg(
            (pl.when(counted).then(pl.col("weight")).otherwise(0.0).sum() * discount.first()).alias("score"),
            pl.len().alias("count"), pl.col("errored").sum().alias("errors"), pl.col("calls").first(),
        ).filter(pl.col("score") >= self.threshold * 0.5).sort(CLUSTER)

    def _weigh(self, ctx: EvalContext, failures: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        turns = frames.turns(ctx).select("trace", "claim", pl.col("principal").alias("asker"))
        sends = frames.sends(ctx).select(
            "trace", pl.col("ts").alias("sent_ts"), pl.col("text").alias("reply"))
        replies = failures.join(sends, on="trace", how="left").filter(
            pl.col("sent_ts").is_null() | (pl.col("sent_ts") >= pl.col("ts"))
        ).group_by("span").agg(
            pl.col("sent_ts").is_not_null().any().alias("delivered"),
            pl.col("reply").fill_null("").str.join(" ").alias("reply"),
        )
        patterns = self.policy.patterns.error_text
        weighed = failures.join(replies, on="span", how="left").join(turns, on="trace", how="left")
        return weighed.with_columns(
            pl.col("delivered").fill_null(False), pl.col("asker").fill_null(""),
            error_text=pl.concat_str(pl.col("reply").fill_null(""), pl.col("text"), separator=" "),
        ).with_columns(error_text=matches_any("error_text", patterns)).with_columns(
            weight=pl.when(pl.col("errored")).then(p.weight_error).otherwise(p.weight_truncation)
            + pl.when(pl.col("delivered")).then(p.weight_delivered).otherwise(0.0)
            + pl.when(pl.col("claim") == "completed").then(p.weight_claimed).otherwise(0.0)
            + pl.when(pl.col("error_text")).then(p.weight_error_text).otherwise(0.0)
        )

    def _candidate(self, agent: str, provider: str, topic: str, cluster: pl.DataFrame,
                   score: float, calls: int, errors: int) -> Candidate:
        delivered = int(cluster["delivered"].sum())
        askers = sorted(a for a in cluster["asker"].unique().to_list() if a)
        about_topic = f"on topic {topic}" if topic else "(topic unknown)"
        text = int(cluster["error_text"].sum())
        explanation = (
            f"{agent}'s provider {provider or '(unknown)'} failed {plural(cluster.height, 'time')} "
            f"in {plural(calls, 'call')} {about_topic} without a successful retry "
            f"({plural(errors, 'error')}, "
            f"{plural(cluster.height - errors, 'truncation')}); {delivered} replies went out "
            f"to {plural(len(askers), 'person')} anyway"
            + (f", {text} of them reading like error text" if text else "") + "."
        )
        return Candidate(
            key=f"{agent}|{provider}|{topic}", score=score,
            title=f"silent provider failures for {agent} {about_topic}", explanation=explanation,
            agents=(agent,), principals=tuple(askers), evidence=evidence(cluster),
            first_event_ns=first_ts(cluster), labels={"provider": provider, "topic": topic},
        )

    def _improbable(self, failures: int, errors: int, calls: int) -> bool:
        """At least this many failures (or errors) in ``calls`` is rare in ordinary traffic."""
        p = self.params
        # binom.sf(k - 1, n, rate) is P(X >= k) for X ~ Binomial(n, rate).
        by_chance = min(float(binom.sf(failures - 1, calls, p.chance_truncation_rate)),
                        float(binom.sf(errors - 1, calls, p.chance_error_rate)) if errors else 1.0)
        return by_chance <= p.chance_alpha


def _classified(chats: pl.DataFrame) -> pl.DataFrame:
    return chats.with_columns(
        broken=pl.col("failed") | pl.col("finish").str.contains(FAILED_FINISH),
        errored=pl.col("failed") | pl.col("finish").str.contains('"error"'),
    )


def _unrecovered(chats: pl.DataFrame) -> pl.DataFrame:
    """Failed model calls with no later successful call in the same turn (trace)."""
    last_ok = chats.filter(~pl.col("broken")).group_by("trace").agg(pl.col("ts").max().alias("ok_ts"))
    return chats.filter(pl.col("broken")).join(last_ok, on="trace", how="left").filter(
        pl.col("ok_ts").is_null() | (pl.col("ok_ts") < pl.col("ts"))
    ).drop("ok_ts")
