"""The web application: channel webhooks, the web chat page, the staff API and a health check.

``create_app()`` mounts every *configured* channel of :data:`channels.CHANNELS` at
``/webhooks/<name>`` (a channel whose secret is empty is left out: an empty secret
would verify forged requests), serves the web chat page at ``GET /chat`` and answers
``GET /healthz``. Its lifespan migrates and seeds the database, loads the engine and
its classifier, then starts the channels (HTTP clients, the Telegram Application) and,
on the way out, lets background work finish and closes them. The engine is the
process-wide one (``bot.engine.conversation_engine``), on the process-wide settings. ``serve()`` runs it with uvicorn (``tsunagu serve``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from bot.db import init_db
from bot.housekeeping import every_minute
from bot.settings import Settings
from bot.staff_api import router as staff_router
from bot.settings import settings as default_settings
from channels import CHANNELS
from channels.base import EngineHandler, InputChannel

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings | None = None,
    *,
    handler: EngineHandler | None = None,
    channel_names: Sequence[str] | None = None,
    init_database: bool = True,
) -> FastAPI:
    """Build the FastAPI application.

    Args:
        settings: Secrets, URLs and the database; the process-wide settings by default.
        handler: The engine entry point; by default ``conversation_engine().handle``,
            loaded at start-up.
        channel_names: Which channels to mount (default: every configured one).
        init_database: Migrate and seed ``settings.database_url`` at start-up.

    Returns:
        The application; its lifespan starts and stops the channels.
    """
    settings = settings or default_settings
    names = list(CHANNELS) if channel_names is None else list(channel_names)
    channels: list[InputChannel] = []
    for name in names:
        channel_class = CHANNELS[name]
        if channel_class.is_configured(settings):
            channels.append(channel_class.from_settings(settings, handler))
        else:
            log.info("channel %s is not configured: not mounted", name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if init_database:
            await run_in_threadpool(init_db, settings.database_url)
        if handler is None:
            # Load the engine and its classifier now (training one if none is saved), so
            # the first webhook is not the one that waits: Twilio gives up after 15 s.
            await run_in_threadpool(_warm_up)
        housekeeping = asyncio.create_task(every_minute(settings.database_url)) if handler is None else None
        started: list[InputChannel] = []
        try:
            for channel in channels:
                await channel.startup()
                started.append(channel)
            log.info("channels ready: %s", ", ".join(c.name() for c in started) or "none")
            yield
        finally:
            if housekeeping is not None:
                housekeeping.cancel()
            for channel in reversed(started):
                await channel.shutdown()

    app = FastAPI(title="tsunagu", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.channels = {channel.name(): channel for channel in channels}
    for channel in channels:
        app.include_router(channel.router(), prefix=channel.path(), tags=[channel.name()])

    app.include_router(staff_router)

    @app.get("/chat", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "chat.html", media_type="text/html; charset=utf-8")

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "channels": sorted(app.state.channels)}

    return app


def _warm_up() -> None:
    from bot.engine import conversation_engine
    from intents import get_classifier
    from alerts.fanout import enqueue as fanout
    from routing.delivery import schedule_delivery

    conversation_engine()
    get_classifier()
    # Resume what a previous process left half done: undelivered cases, unsent alerts.
    schedule_delivery()
    fanout.kick()


def serve(host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted (``tsunagu serve``).

    Args:
        host: Interface to listen on, e.g. "127.0.0.1" or "0.0.0.0".
        port: TCP port.
    """
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=True, access_log=False)
