"""The admin endpoint (loopback only): health, readiness, status as JSON.

Commands that inspect a running embedded service go through here, because the embedded
ClickHouse engine locks its data directory to the process that owns it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiohttp import web

StatusProvider = Callable[[], dict[str, object]]


def admin_app(status: StatusProvider, storage: StatusProvider | None = None,
              extra: list[web.RouteDef] | None = None) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def status_handler(_: web.Request) -> web.Response:
        return web.json_response(status(), dumps=_dumps)

    async def storage_handler(_: web.Request) -> web.Response:
        if storage is None:
            raise web.HTTPNotFound(text="this process has no storage role")
        # A full-table count: run it off the event loop.
        summary = await asyncio.get_running_loop().run_in_executor(None, storage)
        return web.json_response(summary, dumps=_dumps)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status_handler)
    app.router.add_get("/storage", storage_handler)
    app.router.add_routes(extra or [])
    return app


def _dumps(value: object) -> str:
    return json.dumps(value, default=str)
