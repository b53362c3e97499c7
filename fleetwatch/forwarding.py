"""Run state-changing CLI commands inside the running embedded service.

The embedded ClickHouse engine locks its data directory to one process, so while `fleetwatch
serve` runs, commands such as `fleetwatch webhooks add` cannot open it. Commands marked
``forwardable`` are then sent to the service's admin endpoint (loopback only), which runs the
same handler with its own settings and returns what it printed.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx

from fleetwatch.config import Settings

# Flags whose values are paths: made absolute before they reach a process with another cwd.
_PATH_FLAGS = ("--secret-file", "--policy-file")
_RUN_LOCK = threading.Lock()  # stdout/stdin redirection is process-wide: one command at a time


def should_forward(args: argparse.Namespace, settings: Settings) -> bool:
    if not getattr(args, "forwardable", False) or not settings.clickhouse_url.startswith("chdb://"):
        return False
    try:
        return httpx.get(f"http://127.0.0.1:{settings.admin_port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def forward(argv: Sequence[str], settings: Settings) -> int:
    payload: dict[str, Any] = {"argv": _absolute_paths(list(argv))}
    if "--secret-stdin" in argv:
        payload["stdin"] = sys.stdin.readline()
    reply = httpx.post(f"http://127.0.0.1:{settings.admin_port}/run", json=payload, timeout=120)
    if reply.status_code != 200:
        print(f"fleetwatch: the running service refused the command: {reply.text}", file=sys.stderr)
        return 2
    result = reply.json()
    sys.stdout.write(result["stdout"])
    sys.stderr.write(result["stderr"])
    return int(result["code"])


def run_forwarded(payload: dict[str, Any], settings: Settings,
                  parse: Callable[[Sequence[str]], argparse.Namespace]) -> dict[str, Any]:
    """Service side: parse, check the command may be forwarded, run it with captured output."""
    args = parse(payload["argv"])
    if not getattr(args, "forwardable", False):
        raise ValueError("this command does not run inside the service")
    out, err = io.StringIO(), io.StringIO()
    with _RUN_LOCK, redirect_stdout(out), redirect_stderr(err):
        saved_stdin, sys.stdin = sys.stdin, io.StringIO(payload.get("stdin", ""))
        try:
            code = int(args.handler(args, settings))
        finally:
            sys.stdin = saved_stdin
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _absolute_paths(argv: list[str]) -> list[str]:
    fixed = []
    for index, token in enumerate(argv):
        flag, equals, value = token.partition("=")
        if equals and flag in _PATH_FLAGS:
            token = f"{flag}={Path(value).expanduser().resolve()}"
        elif index and argv[index - 1] in _PATH_FLAGS:
            token = str(Path(token).expanduser().resolve())
        fixed.append(token)
    return fixed
