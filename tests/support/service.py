"""Run a fleetwatch Service on a background event loop for the duration of a test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fleetwatch.config import Settings
from fleetwatch.service import Service


@contextmanager
def running_service(settings: Settings, roles: set[str]) -> Iterator[Service]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-service", daemon=True)
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
