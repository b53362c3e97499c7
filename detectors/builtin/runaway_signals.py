"""The window-local signals of the runaway detector: one target growing write after write, a
flood of sizable writes on one principal's word, and storage or quota exhaustion the owner was
never told about. Each returns ``(key, score, reason, agents, principals, evidence frame)``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from detectors.builtin.util import plural
from detectors.fleet import FleetDirectory

Signal = tuple[str, float, str, tuple[str, ...], tuple[str, ...], pl.DataFrame]

MIB = 1024 * 1024
EXHAUSTION = re.compile(
    r"quota|disk.?full|storage.?full|no.?space|enospc|exhaust|insufficient.?storage|"
    r"out.?of.?(memory|space|disk)|too.?large|capacity|limit.?exceeded",
    re.IGNORECASE,
)


def longest_growth(sizes: list[float], step: float) -> tuple[int, int]:
    """(start, length) of the longest run where every size exceeds the previous by ``step``x."""
    best, start = (0, 1 if sizes else 0), 0
    for index in range(1, len(sizes)):
        if sizes[index] <= sizes[index - 1] * step:
            start = index
        if index - start + 1 > best[1]:
            best = (start, index - start + 1)
    return best


@dataclass(frozen=True)
class GrowthRule:
    writes: int  # in a row, each larger than the last
    ratio: float  # last / first size of the run
    step: float  # "larger" means at least this factor
    share: float = 0.0  # of the target's writes in the window, the run is at least this
    min_bytes: float = 0.0  # the run's last size, when sizes are bytes
    min_tokens: float = 0.0  # the run's last size, when sizes are prompt tokens


def growth(writes: pl.DataFrame, rule: GrowthRule) -> list[Signal]:
    """Per (agent, target): the longest run of writes each larger than the last, if it is at
    least ``rule.share`` of the target's writes in the window and ends at a size that matters.

    ``size`` is ``fleet.resource.bytes`` when present, else the input tokens of the turn that
    wrote (an agent re-reading a growing file pays for it in its prompts). The share is why a
    busy agent's notes file, written a hundred times a window at random sizes, is not growth:
    a chance run of five larger writes turns up among that many; a runaway target grows write
    after write. The last size is why a quiet agent's five notes at random sizes are not either
    (9 of 2,000 agents in one bench window had such a run): a 3 KB file is no runaway
    whatever its shape."""
    found: list[Signal] = []
    # Most (agent, target) pairs are written a few times a window: dropped before the loop, as
    # whole columns, rather than materialised as one small frame each and skipped in Python.
    repeated = writes.filter((pl.col("target") != "") & (pl.len().over("agent", "target") >= rule.writes))
    for (agent, target), group in repeated.group_by("agent", "target"):
        group = group.sort("ts")
        sizes = [float(s) for s in group["size"].to_list()]
        first, length = longest_growth(sizes, rule.step)
        run = group.slice(first, length)
        last, ratio = sizes[first + length - 1], sizes[first + length - 1] / max(1.0, sizes[first])
        in_bytes = bool((run["bytes"] > 0).all())
        if (length < rule.writes or ratio < rule.ratio or length < rule.share * group.height
                or last < (rule.min_bytes if in_bytes else rule.min_tokens)):
            continue
        unit = "bytes" if in_bytes else "prompt tokens"
        reason = (f"{target} was written {length} times in a row, each time larger "
                  f"({int(sizes[first])} -> {int(last)} {unit}, x{ratio:.0f})")
        principals = tuple(sorted(p for p in run["instructor"].unique().to_list() if p))
        found.append((f"growth:{agent}|{target}", length / rule.writes, reason, (str(agent),),
                      principals, run))
    return found


def flood(tools: pl.DataFrame, min_bytes: int, min_count: int, directory: FleetDirectory,
          any_owner: bool = False) -> list[Signal]:
    """Per instructing principal: how many sizable writes/transfers agents made on their word.
    ``any_owner``: skip a principal who owns any agent of the directory, not only of these
    (a live evaluation sees some agents only)."""
    heavy = tools.filter((pl.col("bytes") >= min_bytes) & pl.col("kind").is_in(["write", "send"]))
    found: list[Signal] = []
    for (principal,), group in heavy.group_by("instructor"):
        if not principal or group.height < min_count:
            continue
        agents = tuple(sorted(group["agent"].unique().to_list()))
        owned = directory.agents if any_owner else agents
        if any(principal in directory.owners(a) for a in owned):
            continue  # the owner's own bulk uploads are their business
        total = int(group["bytes"].sum()) // MIB
        reason = (f"{plural(group.height, 'write')} of {min_bytes // MIB} MiB or more "
                  f"({total} MiB in all) on the word of {principal}")
        found.append((f"flood:{principal}", group.height / min_count, reason, agents,
                      (str(principal),), group))
    return found


def exhaustion(tools: pl.DataFrame, sends: pl.DataFrame, directory: FleetDirectory, judged_until: int,
               weight_error: float, weight_unreported: float) -> list[Signal]:
    """Per agent: tool calls failing for lack of storage or quota, and whether the owner heard."""
    failed = tools.filter(pl.col("failed") & pl.col("error_type").str.contains("(?i)" + EXHAUSTION.pattern))
    found: list[Signal] = []
    for (agent,), group in failed.group_by("agent"):
        first = int(group["ts"].min())  # type: ignore[arg-type]
        owners = directory.owners(str(agent))
        told = sends.filter(
            (pl.col("agent") == agent) & (pl.col("ts") >= first)
            & pl.col("recipients").list.eval(pl.element().is_in(list(owners))).list.any()
        )
        score = weight_error * min(3, group.height)
        reason = (f"{plural(group.height, 'call')} failed for lack of storage or quota "
                  f"({group['error_type'][0]})")
        if owners and told.is_empty() and first <= judged_until:
            score += weight_unreported
            reason += " and no owner was told"
        principals = tuple(sorted(p for p in group["instructor"].unique().to_list() if p))
        found.append((f"exhaustion:{agent}", score, reason, (str(agent),), principals, group))
    return found
