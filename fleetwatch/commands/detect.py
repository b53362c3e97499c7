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
from detectors.evaluation import Report
from detectors.policy import PolicyError, load_policy
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from fleetwatch.service import DETECTORS, Service, run_until_signalled

log = logging.getLogger(__name__)
# Seeds used while tuning thresholds; the tests measure on others (docs/detectors.md).
TUNING_SEEDS = (11, 12, 13)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    detect = subparsers.add_parser("detect", parents=[common], help="run the detector engine")
    detect.add_argument("--once", action="store_true", help="evaluate what is due, then exit")
    detect.set_defaults(handler=run)
    evaluate = subparsers.add_parser("eval", parents=[common], help="measure detectors on simulations")
    evaluate.add_argument("--seeds", default="401,402,403", help="comma-separated simulation seeds")
    evaluate.add_argument("--agents", type=int, default=8)
    evaluate.add_argument("--market-agents", type=int, default=6)
    evaluate.add_argument("--duration", type=float, default=7200.0, help="simulated seconds per run")
    evaluate.add_argument("--every-variant", action="store_true", help="inject every scenario variant")
    evaluate.add_argument("--benign-only", action="store_true", help="no incidents: count false alerts")
    evaluate.add_argument("--scenario", action="append", default=[], metavar="SPEC",
                          help="inject NAME[:key=value,...] instead of the default suite (repeatable)")
    evaluate.add_argument("--rate", type=float, default=6.0, help="benign sessions per agent-hour")
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
    from detectors.eval_run import bulk, evaluate
    from simulator.run import SimulationConfig
    from simulator.suite import parse_spec

    try:
        policy = load_policy(settings.policy_file)
        plans = () if args.benign_only else tuple(parse_spec(spec) for spec in args.scenario) or None
    except (PolicyError, ValueError) as error:
        print(f"fleetwatch: {error}")
        return 2
    report = Report()
    for seed in (int(s) for s in args.seeds.split(",") if s.strip()):
        if seed in TUNING_SEEDS:
            print(f"note: seed {seed} was used for tuning; its figures are not held-out evidence")
        database = f"{settings.clickhouse_database}_eval_{seed}_{uuid.uuid4().hex[:6]}"
        run_settings = settings.model_copy(update={"clickhouse_database": database})
        client = connect(run_settings)
        migrate(client)
        config = bulk(SimulationConfig(
            seed=seed, agents=args.agents, market_agents=args.market_agents,
            duration_s=args.duration, every_variant=args.every_variant, scenarios=plans,
            sessions_per_agent_hour=args.rate, tenant=settings.default_tenant,
        ))
        _, result = evaluate(run_settings, client, config, builtin_registry(policy), policy, report)
        print(f"seed {seed}: {result.spans} spans, {len(result.incidents)} incidents, "
              f"{result.summary.benign_agent_hours:.0f} benign agent-hours")
        if not args.keep:
            client.command(f"DROP DATABASE IF EXISTS `{database}`")
    print("\n".join(report.lines()))
    return 0
