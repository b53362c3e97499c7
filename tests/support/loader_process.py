"""A `fleetwatch ingest` loader in its own process, with its own chDB directory, to SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fleetwatch.config import Settings
from tests.support.tansu import free_port


class LoaderProcess:
    def __init__(self, settings: Settings, chdb_dir: Path, log_path: Path, extra_env: dict[str, str]) -> None:
        self._settings = settings
        self._chdb_dir = chdb_dir
        self._log_path = log_path
        self._extra_env = extra_env
        self.admin_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self._extra_env,
               "FLEETWATCH_KAFKA_BOOTSTRAP": str(self._settings.kafka_bootstrap),
               "FLEETWATCH_KAFKA_TOPIC": self._settings.kafka_topic,
               "FLEETWATCH_KAFKA_DLQ_TOPIC": self._settings.kafka_dlq_topic,
               "FLEETWATCH_KAFKA_GROUP": self._settings.kafka_group,
               "FLEETWATCH_KAFKA_FAST_REBALANCE": "true",
               "FLEETWATCH_CLICKHOUSE_URL": f"chdb://{self._chdb_dir}",
               "FLEETWATCH_ADMIN_PORT": str(self.admin_port)}
        log = open(self._log_path, "ab")  # noqa: SIM115 - owned by the child
        self._process = subprocess.Popen(
            [sys.executable, "-m", "fleetwatch.cli", "ingest"], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "loader exited"
            try:
                if httpx.get(self._url("/healthz"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("loader did not become ready")

    def storage(self) -> dict[str, object]:
        reply: dict[str, object] = httpx.get(self._url("/storage"), timeout=30).json()
        return reply

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def terminate(self) -> int:
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        return self._process.wait(timeout=60)

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"
