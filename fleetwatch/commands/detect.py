"""``fleetwatch detect`` (run the detector engine against ClickHouse) and ``fleetwatch eval``
(measure the detectors on simulated runs with ground-truth labels)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import uuid

from collector.migrations import migrate
from detectors.builtin.catalogue import builtin_registry
from detectors.engine import DetectorEngine
from detectors.evaluation import Report, read_alerts
from detectors.policy import PolicyError, load_policy
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from fleetwatch.service import DETECTORS, Service, run_until_signalled

log = logging.getLogger(__name__)
# Seeds used while tuning thresholds; the tests measure on others (docs/detectors.md).
TUNING_SEEDS = (11, 12)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    detect = subparsers.add_parser("detect", parents=[common], help="run the detector engine")
    detect.add_argument("--once", action="store_true", help="evaluate what is due, then exit")
    detect.set_defaults(handler=run)
    evaluate = subparsers.add_parser("eval", parents=[common], help="measure detectors on simulations")
    evaluate.add_argument("--seeds", default="101,102", help="comma-separated simulation seeds")
    evaluate.add_argument("--agents", type=int, default=8)
    evaluate.add_argument("--market-agents", type=int, default=6)
    evaluate.add_argument("--duration", type=float, default=7200.0, help="simulated seconds per run")
    evaluate.add_argument("--every-variant", action="store_true", help="inject every scenario variant")
    evaluate.add_argument("--benign-only", action="store_true", help="no incidents: count false alerts")
    evaluate.add_argument("--keep", action="store_true", help="keep each run's database")
    evaluate.set_defaults(handler=run_eval)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as error:
        print(f"fleetwatch: {error}")
        return 2
    if not args.once:
        # The detectors role: engine, webhook and annotation workers, and the admin endpoint.
        return asyncio.run(run_until_signalled(Service(settings, {DETECTORS})))
    client = connect(settings)
    migrate(client)
    engine = DetectorEngine(settings, client, builtin_registry(policy), policy)
    print(f"{engine.drain()} alert rows written")
    return 0


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    from detectors.simulate import simulate_into
    from simulator.run import SimulationConfig

    policy = load_policy(settings.policy_file)
    report = Report()
    for seed in (int(s) for s in args.seeds.split(",") if s.strip()):
        database = f"{settings.clickhouse_database}_eval_{seed}_{uuid.uuid4().hex[:6]}"
        # A whole run is loaded at once: never skip its start as "too late".
        run_settings = settings.model_copy(update={
            "clickhouse_database": database, "detector_late_horizon_seconds": 10.0**9})
        client = connect(run_settings)
        migrate(client)
        config = SimulationConfig(
            seed=seed, agents=args.agents, market_agents=args.market_agents,
            duration_s=args.duration, every_variant=args.every_variant,
            scenarios=() if args.benign_only else None, tenant=settings.default_tenant,
        )
        result = simulate_into(client, config)
        DetectorEngine(run_settings, client, builtin_registry(policy), policy).drain()
        report.add_run(result.summary, result.incidents, read_alerts(client))
        print(f"seed {seed}: {result.spans} spans, {len(result.incidents)} incidents")
        if not args.keep:
            client.command(f"DROP DATABASE IF EXISTS `{database}`")
    print("\n".join(report.lines()))
    return 0
