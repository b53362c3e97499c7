"""Ingest benchmark: many concurrent OTLP/HTTP clients sending pre-encoded requests.

Targets (issue 2): >= 50,000 spans/s end to end on the embedded path, >= 30,000 via Kafka, memory
bounded under 3x overload; the same traffic sent to Arize Phoenix for a ratio measured in the
same run. Run one target per invocation and compare in docs/benchmarks.md:

    python bench/ingest_bench.py --target embedded --seconds 30
    python bench/ingest_bench.py --target kafka --seconds 30
    python bench/ingest_bench.py --target phoenix --phoenix-python /tmp/phoenix-venv/bin/python
    python bench/ingest_bench.py --target embedded --overload 3 --capacity 50000

What is measured:
- accepted spans/s while sending, and end to end (until every accepted span is stored);
- answer latency p50/p95 (receipt to 200 — on the embedded path a 200 means queryable);
- receipt to queryable p50/p95 from ClickHouse's IngestedAt (embedded and Kafka paths);
- peak RSS and CPU seconds per process of the target (sampled every 100 ms).
Requests are pre-encoded once; each carries a unique `bench.request` resource attribute, so
receipt-to-queryable latency is known per request without costing the generator an encode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payloads import RequestFactory  # noqa: E402
from tests.support.tansu import TansuBroker, free_port  # noqa: E402


@dataclass
class Totals:
    sent: int = 0
    ok: int = 0
    spans_ok: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    answer_latencies: list[float] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)  # request id -> wall time sent


class MemorySampler:
    """Peak RSS and CPU of a set of processes (and their children), sampled every 100 ms."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak_rss = dict.fromkeys(pids, 0)
        self._cpu_start = {name: _cpu(p) for name, p in self._procs.items()}
        self.cpu_seconds: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = {n: round(_cpu(p) - self._cpu_start[n], 1) for n, p in self._procs.items()}

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True))
                except psutil.Error:
                    continue
                self.peak_rss[name] = max(self.peak_rss[name], rss)


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
        total = times.user + times.system
        for child in proc.children(True):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        return float(total)
    except psutil.Error:
        return 0.0


# --- targets ------------------------------------------------------------------------------
class Target:
    url: str
    processes: dict[str, subprocess.Popen[bytes]]

    def stored(self) -> int | None:
        return None

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


class FleetwatchTarget(Target):
    def __init__(self, workdir: Path, kafka: bool, inflight_mib: int, detectors: bool) -> None:
        self.workdir = workdir
        self.http_port, self.admin_port = free_port(), free_port()
        self.chdb = workdir / "chdb"
        env = {**os.environ, "FLEETWATCH_CLICKHOUSE_URL": f"chdb://{self.chdb}",
               "FLEETWATCH_DATA_DIR": str(workdir), "FLEETWATCH_LOG_LEVEL": "WARNING",
               "FLEETWATCH_MAX_INFLIGHT_BYTES": str(inflight_mib * 1024 * 1024)}
        self.processes = {}
        self.broker: TansuBroker | None = None
        if kafka:
            self.broker = TansuBroker(workdir)
            self.broker.start()
            env.update(FLEETWATCH_KAFKA_BOOTSTRAP=self.broker.bootstrap, FLEETWATCH_KAFKA_TOPIC_PARTITIONS="4")
            self.loader_admin = free_port()
            self.processes["loader"] = _spawn(["ingest", "--admin-port", str(self.loader_admin)], env, workdir)
            self.processes["receiver"] = _spawn(
                ["receive", "--http-port", str(self.http_port), "--grpc-port", str(free_port()),
                 "--admin-port", str(self.admin_port)], env, workdir)
            _wait_healthy(self.loader_admin)
            _wait_assigned(self.loader_admin, partitions=4)
        else:
            self.loader_admin = self.admin_port
            serve = ["serve", "--http-port", str(self.http_port), "--grpc-port", str(free_port()),
                     "--admin-port", str(self.admin_port)]
            self.processes["service"] = _spawn(serve + ([] if detectors else ["--without-detectors"]),
                                               env, workdir)
        _wait_healthy(self.admin_port)
        self.url = f"http://127.0.0.1:{self.http_port}/v1/traces"

    def stored(self) -> int | None:
        import httpx

        reply = httpx.get(f"http://127.0.0.1:{self.loader_admin}/storage", timeout=60).json()
        return int(reply["spans"])

    def stop(self) -> None:
        super().stop()
        if self.broker is not None:
            self.broker.stop()

    def queryable_latencies(self, sent_at: dict[int, float]) -> list[float]:
        """After stop: read each request's first IngestedAt from the chDB directory."""
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=f"chdb://{self.chdb}?database=fleetwatch")
        rows = client.query(
            "SELECT toUInt64(ResourceAttributes['bench.request']) AS r, toFloat64(min(IngestedAt)) "
            "FROM otel_traces GROUP BY r"
        ).result_rows
        return [stored - sent_at[req] for req, stored in rows if req in sent_at]


class PhoenixTarget(Target):
    def __init__(self, workdir: Path, python: str) -> None:
        port = free_port()
        env = {**os.environ, "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(free_port()),
               "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_TELEMETRY_ENABLED": "false"}
        log = open(workdir / "phoenix.log", "ab")  # noqa: SIM115
        self.processes = {"phoenix": subprocess.Popen([python, "-m", "phoenix.server.main", "serve"],
                                                      env=env, stdout=log, stderr=subprocess.STDOUT)}
        self.url = f"http://127.0.0.1:{port}/v1/traces"
        _wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)


def _spawn(args: list[str], env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{args[0]}.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "fleetwatch.cli", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _wait_healthy(port: int) -> None:
    _wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)


def _wait_assigned(port: int, partitions: int, timeout: float = 120) -> None:
    """A steady-state loader holds its partitions: its consumer-group join is not measured."""
    import httpx

    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5).json()
        if len(status.get("loader_partitions") or []) >= partitions:
            print(f"loader holds {partitions} partitions after {time.monotonic() - started:.1f} s", file=sys.stderr)
            return
        time.sleep(0.3)
    raise TimeoutError(f"the loader holds no partitions after {timeout}s")


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


# --- load ---------------------------------------------------------------------------------
async def closed_loop(url: str, factory: RequestFactory, clients: int, seconds: float, totals: Totals) -> float:
    """``clients`` connections, each sending its next request as soon as the last is answered."""
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(_client(session, url, factory, deadline, totals) for _ in range(clients)))
        return time.monotonic() - started


async def open_loop(url: str, factory: RequestFactory, rate: float, seconds: float, totals: Totals) -> float:
    """Requests fired on a schedule (``rate`` per second) whatever the answers: real overload."""
    connector = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        fired = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) - fired
            for _ in range(max(0, due)):
                task = asyncio.create_task(_send(session, url, factory, totals))
                pending.add(task)
                task.add_done_callback(pending.discard)
            fired += max(0, due)
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
        return time.monotonic() - started


async def _client(session: aiohttp.ClientSession, url: str, factory: RequestFactory, deadline: float,
                  totals: Totals) -> None:
    while time.monotonic() < deadline:
        await _send(session, url, factory, totals)


async def _send(session: aiohttp.ClientSession, url: str, factory: RequestFactory, totals: Totals) -> None:
    request_id, body = factory.next()
    sent = time.time()
    totals.sent_at[request_id] = sent
    totals.sent += 1
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}) as reply:
            await reply.read()
            status = reply.status
    except (TimeoutError, aiohttp.ClientError):
        totals.errors += 1
        return
    if status == 200:
        totals.ok += 1
        totals.spans_ok += factory.spans_per_request
        totals.answer_latencies.append(time.time() - sent)
    else:
        totals.refused[status] = totals.refused.get(status, 0) + 1
        if status in (429, 503):
            await asyncio.sleep(0.05)  # a polite client backs off (a real one honours Retry-After)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50_ms": None, "p95_ms": None}
    cuts = statistics.quantiles(values, n=100)
    return {"p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1)}


def _drain(target: Target, expected: int, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        stored = target.stored()
        if stored is None:
            return None
        if stored >= expected:
            return time.monotonic() - started
        time.sleep(1.0)  # each poll is a full count inside the target: keep them rare
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["embedded", "kafka", "phoenix"], default="embedded")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--spans-per-request", type=int, default=200)
    parser.add_argument("--overload", type=float, default=0.0, help="open-loop at this multiple of --capacity")
    parser.add_argument("--capacity", type=float, default=50_000.0, help="spans/s taken as 1x for --overload")
    parser.add_argument("--inflight-mib", type=int, default=32, help="receiver memory-limiter budget")
    parser.add_argument("--phoenix-python", default=str(Path("/tmp/phoenix-venv/bin/python")))
    parser.add_argument("--json", type=Path, help="write the result here too")
    parser.add_argument("--detectors", action="store_true",
                        help="embedded: run the detectors in the service too (as `fleetwatch serve` does)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix=f"fw-bench-{args.target}-"))
    factory = RequestFactory(args.spans_per_request)
    if args.target == "phoenix":
        target: Target = PhoenixTarget(workdir, args.phoenix_python)
    else:
        target = FleetwatchTarget(workdir, kafka=args.target == "kafka", inflight_mib=args.inflight_mib,
                                  detectors=args.detectors)
    sampler = MemorySampler({name: p.pid for name, p in target.processes.items()})
    sampler.start()
    totals = Totals()
    if args.overload:
        rate = args.overload * args.capacity / args.spans_per_request
        sending = asyncio.run(open_loop(target.url, factory, rate, args.seconds, totals))
    else:
        sending = asyncio.run(closed_loop(target.url, factory, args.clients, args.seconds, totals))
    drain = _drain(target, totals.spans_ok, timeout=300)
    stored = target.stored()
    sampler.stop()
    queryable: list[float] = []
    target.stop()
    if isinstance(target, FleetwatchTarget):
        queryable = target.queryable_latencies(totals.sent_at)
    end_to_end = sending + (drain or 0.0)
    result = {
        "target": args.target,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "detectors_in_process": args.detectors,
        "mode": f"open loop {args.overload}x of {args.capacity:.0f} spans/s" if args.overload
        else f"closed loop, {args.clients} clients",
        "spans_per_request": args.spans_per_request,
        "request_bytes": factory.request_bytes,
        "seconds_sending": round(sending, 1),
        "requests_sent": totals.sent,
        "requests_ok": totals.ok,
        "refused": totals.refused,
        "client_errors": totals.errors,
        "spans_accepted": totals.spans_ok,
        "spans_stored": stored,
        "accepted_spans_per_s": round(totals.spans_ok / sending),
        "end_to_end_spans_per_s": round(totals.spans_ok / end_to_end) if drain is not None else None,
        "drain_seconds": None if drain is None else round(drain, 1),
        "answer_latency": _percentiles(totals.answer_latencies),
        "receipt_to_queryable": _percentiles(queryable),
        "peak_rss_mib": {n: round(v / 2**20) for n, v in sampler.peak_rss.items()},
        "cpu_seconds": sampler.cpu_seconds,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
