"""A fleetwatch process: the roles it runs, their start-up and shut-down.

Roles: ``receiver`` (OTLP/HTTP + OTLP/gRPC into the sink: Kafka when configured, otherwise the
embedded writer straight into ClickHouse), ``loader`` (Kafka -> ClickHouse), ``detectors``
(detector engine and alert delivery workers). The embedded default runs receiver and detectors
in one process, because chDB allows one process per data directory.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from aiohttp import web
from clickhouse_connect.driver.client import Client
from grpc import aio

from collector.admin import admin_app
from collector.embedded_sink import EmbeddedSink
from collector.ingestor import Ingestor
from collector.kafka_sink import KafkaSink
from collector.kafka_topics import ensure_topics
from collector.limiter import InflightLimiter
from collector.loader import KafkaLoader
from collector.migrations import migrate
from collector.receiver_grpc import GrpcReceiver
from collector.receiver_http import HttpReceiver
from collector.sink import SpanSink
from collector.stats import IngestStats
from collector.summary import storage_summary
from collector.tenancy import Authenticator
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings
from fleetwatch.forwarding import run_forwarded
from fleetwatch.process import apply_process_settings
from fleetwatch.workers import PeriodicWorker, Worker, WorkerSpec, worker_specs

log = logging.getLogger(__name__)

RECEIVER, LOADER, DETECTORS = "receiver", "loader", "detectors"


class Service:
    def __init__(self, settings: Settings, roles: set[str]) -> None:
        self.settings = settings
        self.roles = roles
        self.stats = IngestStats()
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.admin_port: int | None = None
        self.failure: BaseException | None = None
        self.ingestor: Ingestor | None = None
        self._runners: list[web.AppRunner] = []
        self._grpc: aio.Server | None = None
        self._sink: SpanSink | None = None
        self._loaders: list[KafkaLoader] = []
        self._loader_stop = threading.Event()
        self._loader_threads: list[threading.Thread] = []
        self._workers: list[PeriodicWorker] = []
        self.failed = asyncio.Event()
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._admin_client: Client | None = None
        self._admin_lock = threading.Lock()

    def client(self) -> Client:
        """A new ClickHouse client (one per thread; chDB shares the engine in-process)."""
        return connect(self.settings)

    async def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        apply_process_settings(self.settings)
        if self._uses_storage() and self.settings.clickhouse_url.startswith("chdb://"):
            migrate(self.client())  # the embedded engine migrates itself; servers use `migrate`
        if not self.settings.embedded:
            ensure_topics(self.settings)
        if RECEIVER in self.roles:
            await self._start_receiver()
        if LOADER in self.roles:
            self._start_loader()
        if DETECTORS in self.roles:
            self._start_workers()
        await self._start_admin()
        log.info("fleetwatch up: %s", self.endpoints())

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=5)
        for runner in reversed(self._runners):
            await runner.cleanup()
        if self._sink is not None:
            self._sink.stop()
        self._loader_stop.set()
        for thread in self._loader_threads:
            thread.join(timeout=30)
        for worker in self._workers:
            worker.stop()

    def _uses_storage(self) -> bool:
        return self.settings.embedded or bool(self.roles & {LOADER, DETECTORS})

    def endpoints(self) -> dict[str, str]:
        host = self.settings.http_host
        found = {"admin": f"http://127.0.0.1:{self.admin_port}/status"}
        if self.http_port is not None:
            found["otlp_http"] = f"http://{host}:{self.http_port}/v1/traces"
            found["otlp_grpc"] = f"{host}:{self.grpc_port}"
        return found

    def status(self) -> dict[str, object]:
        return {
            "roles": sorted(self.roles),
            "mode": "embedded" if self.settings.embedded else "kafka",
            "endpoints": self.endpoints(),
            "ingest": self.stats.as_dict(),
            "loader_lag": self._loader_lag(),
            "loader_partitions": sorted(p for held in self.loader_partitions() for p in held),
            "workers": {w.name: {"runs": w.runs, "last_error": w.last_error, "behind": w.behind,
                                 **w.details} for w in self._workers},
            "failure": None if self.failure is None else str(self.failure),
        }

    async def _run_command(self, request: web.Request) -> web.Response:
        """A forwarded CLI command (fleetwatch.forwarding), run against this process's storage."""
        from fleetwatch.cli import parse_args  # the CLI imports this module: import late

        payload = await request.json()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, run_forwarded, payload, self.settings, parse_args)
        except (ValueError, SystemExit) as error:  # argparse exits on bad arguments
            return web.json_response({"error": str(error) or "invalid arguments"}, status=400)
        return web.json_response(result)

    def storage_summary(self) -> dict[str, object]:
        with self._admin_lock:  # one admin client, reused: building a client costs queries
            if self._admin_client is None:
                self._admin_client = self.client()
            return storage_summary(self._admin_client)

    # -- roles ------------------------------------------------------------------------------
    async def _start_receiver(self) -> None:
        s = self.settings
        self._sink = self._make_sink()
        self._sink.start()
        auth = Authenticator(s.tenant_tokens(), s.default_tenant)
        limiter = InflightLimiter(s.max_inflight_bytes, s.retry_after_seconds)
        self.ingestor = ingestor = Ingestor(self._sink, auth, limiter, self.stats, s.kafka_max_message_bytes)
        http = HttpReceiver(ingestor, s.max_body_bytes, max_concurrent_reads=16)
        self.http_port = await self._serve(http.app(), s.http_host, s.http_port)
        self._grpc = GrpcReceiver(ingestor, s.max_body_bytes).server()
        self.grpc_port = self._grpc.add_insecure_port(f"{s.http_host}:{s.grpc_port}")
        await self._grpc.start()

    def _make_sink(self) -> SpanSink:
        s = self.settings
        if not s.embedded:
            return KafkaSink(s, self.stats)
        return EmbeddedSink(
            self.client, batch_max_rows=s.batch_max_rows, batch_max_delay_ms=s.batch_max_delay_ms,
            inserters=s.embedded_inserters, retry_after=s.retry_after_seconds, stats=self.stats,
        )

    def _start_loader(self) -> None:
        # Each consumer is its own group member with its own ClickHouse client, so inserts for
        # different partitions run side by side.
        for number in range(self.settings.loader_consumers):
            loader = KafkaLoader(self.settings, self.client, self.stats)
            thread = threading.Thread(target=self._run_loader, args=(loader,), name=f"loader-{number}",
                                      daemon=True)
            self._loaders.append(loader)
            self._loader_threads.append(thread)
            thread.start()

    def _run_loader(self, loader: KafkaLoader) -> None:
        try:
            loader.run(self._loader_stop)
        except BaseException as error:  # noqa: BLE001 - reported, then the process exits non-zero
            log.exception("loader stopped")
            self._fail(error)

    def workers_behind(self) -> bool:
        """True until every background worker has run and has no work due (detectors caught up)."""
        return any(worker.runs == 0 or worker.behind for worker in self._workers)

    def loader_partitions(self) -> list[set[int]]:
        """Per consumer of this process, the partitions it holds now."""
        return [loader.partitions() for loader in self._loaders]

    def _loader_lag(self) -> int | None:
        if not self._loaders:
            return None
        lags = [loader.lag() for loader in self._loaders]
        return None if any(lag is None for lag in lags) else sum(lag for lag in lags if lag is not None)

    def _start_workers(self) -> None:
        for spec in worker_specs():
            if spec.enabled(self.settings):
                make = partial(_make_worker, spec, self.settings, self.client)
                worker = PeriodicWorker(spec.name, make, self.settings.detector_interval_seconds)
                worker.start()
                self._workers.append(worker)

    async def _start_admin(self) -> None:
        storage = self.storage_summary if self._uses_storage() else None
        extra = [web.post("/run", self._run_command)] if self._uses_storage() else []
        app = admin_app(self.status, storage=storage, extra=extra)
        self.admin_port = await self._serve(app, "127.0.0.1", self.settings.admin_port)

    async def _serve(self, app: web.Application, host: str, port: int) -> int:
        # auto_decompress off: the receiver inflates bodies itself, with a bound (gzip bombs).
        runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        bound: int = runner.addresses[-1][1]
        return bound

    def _fail(self, error: BaseException) -> None:
        self.failure = error
        if self._event_loop is not None:
            self._event_loop.call_soon_threadsafe(self.failed.set)


def _make_worker(spec: WorkerSpec, settings: Settings, client: Callable[[], Client]) -> Worker:
    # Built on the worker's own thread, with its own client.
    return spec.make(settings, client())


@contextmanager
def run_in_background(settings: Settings, roles: set[str]) -> Iterator[Service]:
    """A started service on its own event-loop thread, for the length of a ``with`` block
    (the demo and the tests drive it from ordinary synchronous code)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="service", daemon=True)
    thread.start()
    service = Service(settings, roles)
    try:
        asyncio.run_coroutine_threadsafe(service.start(), loop).result(timeout=120)
        yield service
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def run_until_signalled(service: Service) -> int:
    """Start, wait for SIGINT/SIGTERM (or a fatal failure), stop. Returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    done = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(service.failed.wait())}
    await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
    await service.stop()
    return 3 if service.failure is not None else 0
