"""The composition root of the web application: channel webhooks, the web chat page, the
staff API and a health check, wired to one conversation engine.

``create_app()`` builds the engine (``build_engine``) and mounts every *configured*
channel of :data:`channels.registry.CHANNELS` at ``/webhooks/<name>`` with the engine's handler
(a channel whose secret is empty is left out: an empty secret would verify forged
requests), serves the web chat page at ``GET /chat`` (``/`` leads there; a favicon) and answers ``GET /healthz``
and ``GET /readyz`` (``bot.health``; 503 when the database or Redis cannot be reached) and
``GET /metrics`` (Prometheus: ``bot.metrics`` and the database's counts). Its
lifespan runs the start-up step (``prepare_database``: migrate, then seed the
directory), loads the classifier, resumes unfinished background work, then starts the
channels (HTTP clients, the Telegram Application) and, on the way out, lets background
work finish and closes them. ``serve()`` runs it with uvicorn (``tsunagu serve``).

``run_turns`` is ``tsunagu turns``: with ``turn_mode = "worker"`` the web processes only store
and acknowledge LINE and Telegram events, and these processes run their turns.

``build_engine`` is also what ``tsunagu chat`` and the tests use; ``prepare_database`` is
``routing.directory``'s.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from alerts.fanout import runner as fanout_runner
from alerts.sensors import SensorDesk
from bot.console.replies import schedule_replies
from bot.console.web import console_router, install_error_pages
from bot.db import session_factory
from bot.domain import load_domain
from bot.edge import BodySizeLimit, RequestCounter, install_error_handlers
from bot.effects import resume_pending_work, run_effects
from bot.health import DatabaseCollector, check_readiness
from bot.metrics import REGISTRY
from bot.page_words import render_chat_page
from bot.engine import ConversationEngine
from bot.housekeeping import every_minute
from bot.logsafe import install_redaction
from bot.responses import check_domain
from bot.settings import Settings
from bot.settings import settings as default_settings
from bot.media import router as media_router
from bot.staff_api import router as staff_router
from bot.workqueue import Sweep, Sweeper
from channels.base import EngineHandler, InputChannel
from channels.inbox import DurableChannel, Inbox, InboxRole
from channels.registry import CHANNELS
from channels.sensors import SensorEndpoint
from intents.classifier import get_classifier
from routing.delivery import schedule_delivery
from routing.directory import prepare_database

__all__ = ["build_engine", "create_app", "queue_sweeps", "run_turns", "serve", "turns"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Seconds a thread holds the GIL while another waits for it (``sys.setswitchinterval``), in ``serve``.
ACK_SWITCH_INTERVAL = 0.001


def build_engine(url: str) -> ConversationEngine:
    """The conversation engine on ``url``; each turn's effects run once the turn is committed.

    Args:
        url: the database (prepared with :func:`prepare_database`).

    Returns:
        The engine; its classifier is loaded on first use (``get_classifier`` loads it early).
    """
    return ConversationEngine(session_factory(url), check_domain(load_domain()), classifier=get_classifier,
                              after_commit=partial(run_effects, url=url))


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
        handler: The engine entry point; by default the ``handle`` of an engine built
            here on ``settings.database_url``, whose classifier, housekeeping and
            unfinished deliveries are started with the app.
        channel_names: Which channels to mount (default: every configured one).
        init_database: Migrate and seed ``settings.database_url`` at start-up.

    Returns:
        The application; its lifespan starts and stops the channels.
    """
    settings = settings or default_settings
    own_engine = handler is None
    handle = build_engine(settings.database_url).handle if handler is None else handler
    channels = _configured_channels(settings, handle, list(CHANNELS) if channel_names is None else channel_names)
    # Webhook events are committed before they are acknowledged, and processed from there:
    # here, or by `tsunagu turns` processes.
    inbox = Inbox(settings.database_url,
                  InboxRole.store if settings.turn_mode == "worker" else InboxRole.store_and_process)
    for channel in channels:
        if isinstance(channel, DurableChannel):
            inbox.register(channel)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if init_database:
            await run_in_threadpool(prepare_database, settings.database_url, settings.directory_path)
        housekeeping = None
        if own_engine:
            # Load the classifier now (training one if none is saved), so the first
            # webhook is not the one that waits: Twilio gives up after 15 s.
            await run_in_threadpool(get_classifier)
            await run_in_threadpool(resume_pending_work, settings.database_url)
            housekeeping = asyncio.create_task(every_minute(settings.database_url))
        started: list[InputChannel] = []
        try:
            for channel in channels:
                await channel.startup()
                started.append(channel)
            log.info("channels ready: %s", ", ".join(c.name() for c in started) or "none")
            await inbox.start()  # also takes up what a previous process left unanswered
            yield
        finally:
            await inbox.stop()
            if housekeeping is not None:
                housekeeping.cancel()
            for channel in reversed(started):
                await channel.shutdown()

    # In production the schema is not published: it maps every endpoint for an attacker.
    openapi_url = None if settings.environment == "production" else "/openapi.json"
    app = FastAPI(title="tsunagu", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=openapi_url)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestCounter)  # outermost: a refused body is counted too
    install_error_handlers(app)
    app.state.channels = {channel.name(): channel for channel in channels}
    for channel in channels:
        app.include_router(channel.router(), prefix=channel.path(), tags=[channel.name()])

    app.include_router(staff_router)
    if SensorEndpoint.is_configured(settings):
        # Household sensors: verified by the channel, recorded and acted on by alerts.sensors.
        desk = SensorDesk(settings.database_url, partial(run_effects, url=settings.database_url))
        app.include_router(SensorEndpoint.from_settings(settings, desk.key_for, desk.receive).router())
    app.include_router(console_router(settings))
    install_error_pages(app)
    app.include_router(media_router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        # Residents given the bare address land in the chat.
        return RedirectResponse("/chat", status_code=307)

    page = render_chat_page(STATIC_DIR / "chat.html", load_domain())

    @app.get("/chat", include_in_schema=False)
    async def chat_page() -> HTMLResponse:
        return HTMLResponse(page)

    # Browsers ask for /favicon.ico whatever the page says; the SVG serves both names.
    @app.get("/favicon.ico", include_in_schema=False)
    @app.get("/favicon.svg", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "channels": sorted(app.state.channels)}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        database = CollectorRegistry(auto_describe=False)
        database.register(DatabaseCollector(settings.database_url))
        scraped = await run_in_threadpool(lambda: generate_latest(REGISTRY) + generate_latest(database))
        return Response(scraped, media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        readiness = await run_in_threadpool(check_readiness, settings.database_url, settings.redis_url)
        return JSONResponse(readiness.as_dict(), status_code=200 if readiness.ready else 503)

    return app


def _load_and_freeze() -> None:
    """Load the classifier, then leave what is loaded (the classifier, the dictionaries: some
    300,000 objects) out of the garbage collector's full passes, which otherwise stop the process
    for about 0.2 s now and then: every webhook arriving meanwhile waited that long
    (``benchmarks/webhook_load.py``). Only in a process's entry point: frozen objects are never
    collected, and tests start many apps in one process."""
    get_classifier()
    gc.collect()
    gc.freeze()


def _configured_channels(settings: Settings, handle: EngineHandler, names: Sequence[str]) -> list[InputChannel]:
    channels: list[InputChannel] = []
    for name in names:
        channel_class = CHANNELS[name]
        if channel_class.is_configured(settings):
            channels.append(channel_class.from_settings(settings, handle))
        else:
            log.info("channel %s is not configured: not mounted", name)
    return channels


async def run_turns(stop: asyncio.Event, settings: Settings | None = None) -> None:
    """Run the turns of the LINE and Telegram events the web processes stored, until ``stop``
    is set (``tsunagu turns``, with ``turn_mode = "worker"``); then finish the turns under way.

    Args:
        stop: set to stop (SIGTERM): no event is taken up after it.
        settings: the process-wide settings by default.
    """
    settings = settings or default_settings
    await run_in_threadpool(prepare_database, settings.database_url, settings.directory_path)
    await run_in_threadpool(get_classifier)
    handle = build_engine(settings.database_url).handle
    inbox = Inbox(settings.database_url, InboxRole.process)
    channels = [channel for channel in _configured_channels(settings, handle, list(CHANNELS))
                if isinstance(channel, DurableChannel)]
    started: list[InputChannel] = []
    try:
        for channel in channels:
            await channel.startup()
            inbox.register(channel)
            started.append(channel)
        log.info("turns: processing %s", ", ".join(channel.name() for channel in started) or "nothing")
        await inbox.start()  # also takes up what a killed process left
        await stop.wait()
    finally:
        await inbox.stop()
        for channel in reversed(started):
            await channel.shutdown()  # waits for the turns under way


def turns() -> None:
    """``tsunagu turns``: :func:`run_turns` at a lower CPU priority until SIGTERM or SIGINT."""
    os.nice(default_settings.turn_worker_niceness)
    install_redaction(json_lines=default_settings.log_format == "json")
    _load_and_freeze()

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        await run_turns(stop)

    asyncio.run(until_signalled())


def queue_sweeps(url: str) -> list[Sweep]:
    """What ``serve``'s sweeper does every ``queue_sweep_seconds``: wake the case deliveries
    (the embedded thread; nothing with ``delivery_mode = "worker"``) and kick the alert fan-out
    if rows are due (the embedded sender, or the workers through Redis)."""
    return [partial(schedule_delivery, url=url), partial(fanout_runner.sweep, url),
            # Staff replies to residents (the staff console's outbox), queued here or by another process.
            partial(schedule_replies, url)]


def serve(host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted (``tsunagu serve``).

    Args:
        host: Interface to listen on, e.g. "127.0.0.1" or "0.0.0.0".
        port: TCP port.
    """
    # A webhook's acknowledgement waits for the GIL behind the engine's turns (CPU in a worker
    # thread): asked for it, a thread now gives it up after 1 ms instead of Python's 5, so the
    # few steps of an acknowledgement do not each wait a whole turn's slice.
    sys.setswitchinterval(ACK_SWITCH_INTERVAL)
    _load_and_freeze()
    # A wake-up after a commit is only a hint: this picks up whatever is queued all the same.
    Sweeper("sweeper", queue_sweeps(default_settings.database_url), default_settings.queue_sweep_seconds).start()
    config = uvicorn.Config(create_app(), host=host, port=port, proxy_headers=True, access_log=False)
    # uvicorn has just configured its own handlers: they redact too.
    install_redaction(json_lines=default_settings.log_format == "json")
    uvicorn.Server(config).run()
