"""The ``fleetwatch`` command: one parser, subcommands registered explicitly."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from fleetwatch.config import Settings, load_settings
from fleetwatch.forwarding import forward, should_forward

# Each module exposes ``register(subparsers)``; it adds its subcommands and sets ``handler``
# (a callable taking the parsed args and returning an exit code) on each.
COMMAND_MODULES: tuple[str, ...] = (
    "fleetwatch.commands.serve",
    "fleetwatch.commands.migrate",
    "fleetwatch.commands.status",
    "fleetwatch.commands.webhooks",
    "fleetwatch.commands.simulate",
    "fleetwatch.commands.grafana",
    "fleetwatch.commands.detect",
    "fleetwatch.commands.demo",
)

# Flags shared by every subcommand; each maps onto the Settings field of the same name.
_SETTING_FLAGS: tuple[tuple[str, type], ...] = (
    ("clickhouse-url", str),
    ("clickhouse-database", str),
    ("kafka-bootstrap", str),
    ("http-host", str),
    ("http-port", int),
    ("grpc-port", int),
    ("admin-port", int),
    ("data-dir", str),
    ("policy-file", str),
    ("log-level", str),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetwatch", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    for flag, kind in _SETTING_FLAGS:
        env_name = "FLEETWATCH_" + flag.upper().replace("-", "_")
        common.add_argument(f"--{flag}", type=kind, default=None, help=f"overrides {env_name}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers, common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    fields = [flag.replace("-", "_") for flag, _ in _SETTING_FLAGS]
    overrides = {field: getattr(args, field, None) for field in fields}
    return load_settings(**overrides)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        print(f"fleetwatch: invalid configuration: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if should_forward(args, settings):
        return forward(argv, settings)
    code: int = args.handler(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
