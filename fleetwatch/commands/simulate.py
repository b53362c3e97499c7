"""``fleetwatch simulate`` and ``fleetwatch replay``: synthetic fleets with ground truth.

``simulate`` runs the fleet simulator (simulator/) and sends its spans with the stock OTLP
exporter, or writes them pre-encoded to a file that ``replay`` later sends at recorded or
accelerated speed. Every simulate run writes a labels file (docs/scenarios.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch.config import Settings

if TYPE_CHECKING:
    from simulator.run import SimulationConfig

# The simulator (and the OpenTelemetry SDK it drives) is imported only when these commands run,
# so building the CLI parser stays cheap for every other command.


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    sim = subparsers.add_parser("simulate", parents=[common],
                                help="simulate an agent fleet with labelled incidents")
    sim.add_argument("--endpoint",
                     help="OTLP endpoint (default http://127.0.0.1:<http-port>, or <grpc-port> for grpc)")
    sim.add_argument("--protocol", choices=("http", "grpc"), default="http")
    sim.add_argument("--token-file", type=Path, help="file holding the bearer token to send")
    sim.add_argument("--output", type=Path,
                     help="write pre-encoded OTLP requests here instead of sending")
    sim.add_argument("--labels", type=Path,
                     help="labels file (default <data-dir>/simulations/<run id>.labels.jsonl)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--agents", type=int, default=8)
    sim.add_argument("--market-agents", type=int, default=6)
    sim.add_argument("--duration", default="2h", help="simulated duration: 90s, 15m, 2h")
    sim.add_argument("--rate", type=float, default=6.0, help="benign sessions per agent-hour")
    sim.add_argument("--start", help="'epoch' (2026-01-01T00:00:00Z, default), 'now' or ISO time")
    sim.add_argument("--realtime", action="store_true", help="pace to the wall clock (start defaults to now)")
    sim.add_argument("--tenant", help="tenant recorded in the labels (default: the default tenant)")
    sim.add_argument("--suite", choices=("default", "every-variant", "none"), default="default")
    sim.add_argument("--scenario", action="append", default=[], metavar="NAME[:k=v,...]",
                     help="inject this scenario (repeatable; replaces the suite)")
    sim.add_argument("--batch-spans", type=int, default=512)
    sim.add_argument("--flush-interval", type=float, default=10.0,
                     help="simulated seconds between sends (larger: fewer, bigger requests)")
    sim.add_argument("--list-scenarios", action="store_true", help="print the scenario library and exit")
    sim.set_defaults(handler=run)

    rep = subparsers.add_parser("replay", parents=[common], help="send a pre-encoded OTLP file")
    rep.add_argument("file", type=Path)
    rep.add_argument("--endpoint", help="OTLP/HTTP endpoint (default http://127.0.0.1:<http-port>)")
    rep.add_argument("--token-file", type=Path)
    pace = rep.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="N times the recorded pace")
    pace.add_argument("--max", action="store_true", help="as fast as possible")
    rep.add_argument("--concurrency", type=int, default=8)
    rep.set_defaults(handler=run_replay)


def _endpoint(args: argparse.Namespace, settings: Settings) -> str:
    if args.endpoint:
        return str(args.endpoint)
    if getattr(args, "protocol", "http") == "grpc":
        return f"http://127.0.0.1:{settings.grpc_port or 4317}"
    return f"http://127.0.0.1:{settings.http_port or 4318}"


def _token(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path is not None else None


def _config(args: argparse.Namespace, settings: Settings) -> SimulationConfig:
    from simulator.clock import parse_duration, parse_start
    from simulator.run import SimulationConfig
    from simulator.suite import parse_spec

    plans = tuple(parse_spec(spec) for spec in args.scenario) if args.scenario else None
    if plans is None and args.suite == "none":
        plans = ()
    return SimulationConfig(
        seed=args.seed, agents=args.agents, market_agents=args.market_agents,
        duration_s=parse_duration(args.duration), sessions_per_agent_hour=args.rate,
        start_ns=parse_start(args.start, realtime=args.realtime), realtime=args.realtime,
        tenant=args.tenant or settings.default_tenant, scenarios=plans,
        every_variant=args.suite == "every-variant", batch_spans=args.batch_spans,
        flush_interval_s=args.flush_interval,
    )


def _list_scenarios() -> int:
    from simulator.scenarios.registry import SCENARIOS

    for name, scenario in SCENARIOS.items():
        print(f"{name:32} {scenario.kind:28} {scenario.case:8} variants: {', '.join(scenario.variants)}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.list_scenarios:
        return _list_scenarios()
    try:
        config = _config(args, settings)
    except ValueError as error:
        print(f"fleetwatch simulate: {error}", file=sys.stderr)
        return 2
    from simulator.run import run_simulation
    from simulator.transport import EndpointUnavailable

    labels = args.labels or settings.data_dir / "simulations" / f"{config.run_id()}.labels.jsonl"
    endpoint = None if args.output else _endpoint(args, settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        result = run_simulation(config, endpoint=endpoint, protocol=args.protocol,
                                token=_token(args.token_file), output=args.output, labels_path=labels)
    except EndpointUnavailable as error:
        print(f"fleetwatch simulate: {endpoint}: {error}; is fleetwatch running?", file=sys.stderr)
        return 1
    print(json.dumps({
        "run_id": result.summary.run_id, "spans": result.spans, "requests": result.requests,
        "failed_requests": result.failed_requests, "incidents": len(result.incidents),
        "labels": str(labels), "output": str(args.output) if args.output else None,
        "wall_seconds": round(result.wall_seconds, 3),
        "spans_per_simulated_second": round(result.spans / config.duration_s, 2),
    }, indent=2))
    return 1 if result.failed_requests else 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from simulator.replay import replay

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
    try:
        stats = replay(args.file, _endpoint(args, settings), speed=None if args.max else args.speed,
                       concurrency=args.concurrency, token=_token(args.token_file))
    except (OSError, ValueError) as error:
        print(f"fleetwatch replay: {error}", file=sys.stderr)
        return 2
    print(json.dumps({
        "records": stats.records, "spans": stats.spans, "bytes": stats.bytes,
        "failed": stats.failed, "retries": stats.retries, "elapsed_s": round(stats.elapsed_s, 3),
        "spans_per_second": round(stats.spans_per_second, 1),
    }, indent=2))
    return 1 if stats.failed else 0
