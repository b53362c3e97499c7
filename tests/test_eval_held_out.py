"""Every built-in detector on three held-out seeds, every scenario variant in each: enough
incidents per family (6-9: each family has 2-3 variants, 3 seeds) that the floors mean something.

Seeds 401, 402 and 403 were never run while tuning (tuning seeds: 11, 12, 13). Each run is the
every-variant suite over the default fleet (8 agents, 6 bidders, 2 simulated hours; drift needs
longer runs and is measured in tests/test_eval_drift.py). Floors over the three runs together:
recall >= 0.9 per family, precision >= 0.9 per detector. The counts are printed (``-s``).

A family or detector below its floor here is listed in KNOWN_SHORT with what was seen and is an
expected failure (reported to its owner; not ours to change) rather than a hidden one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from detectors.builtin.catalogue import builtin_registry
from detectors.eval_run import bulk, evaluate
from detectors.evaluation import DETECTOR_KINDS, Report
from detectors.policy import Policy
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from simulator.run import SimulationConfig

HELD_OUT_SEEDS = (401, 402, 403)
FAMILIES = sorted({kind for kinds in DETECTOR_KINDS.values() for kind in kinds} - {"behavioural_drift"})
DETECTORS = sorted(set(DETECTOR_KINDS) - {"drift"})
KNOWN_SHORT: dict[str, str] = {}


@pytest.fixture(scope="module")
def held_out(clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    report = Report()
    for seed in HELD_OUT_SEEDS:
        settings = Settings(clickhouse_url=clickhouse_url, clickhouse_database=f"t_{uuid.uuid4().hex[:12]}",
                            data_dir=Path(tmp_path_factory.mktemp(f"held-out-{seed}")))
        client: Client = connect(settings)
        migrate(client)
        config = bulk(SimulationConfig(seed=seed, every_variant=True))
        evaluate(settings, client, config, builtin_registry(Policy()), Policy(), report)
        client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")
    print("\n".join(report.lines()))
    yield report


def known(name: str) -> Any:
    """``name`` as a test parameter; an expected failure when it is known to miss its floor."""
    if name not in KNOWN_SHORT:
        return name
    return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_SHORT[name], strict=False))


@pytest.mark.parametrize("family", [known(f) for f in FAMILIES])
def test_recall_per_family(held_out: Report, family: str) -> None:
    score = held_out.families[family]
    assert score.incidents >= 2 * len(HELD_OUT_SEEDS), score.incidents  # every variant (2+), each seed
    assert score.recall >= 0.9, (family, score.detected, score.incidents)


@pytest.mark.parametrize("detector", [known(d) for d in DETECTORS])
def test_precision_per_detector(held_out: Report, detector: str) -> None:
    score = held_out.detectors[detector]
    assert score.alerts > 0, detector  # every detector found something in its families
    assert score.precision >= 0.9, (detector, score.true_alerts, score.alerts)
