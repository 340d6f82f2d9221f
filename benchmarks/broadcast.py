"""Alert fan-out throughput: 100,000 cooperators, fake LINE / Telegram / SMTP with real limits.

Cooperators are spread over the sample city's towns, a third each on LINE, Telegram and
e-mail. Fake platforms on 127.0.0.1 (benchmarks/platforms.py) enforce LINE multicast 200
requests/s, Telegram 30 messages/s and SMTP 50 messages/s (429 / 451 beyond), and the
fan-out is configured to the same limits. One city-wide alert is queued and sent,
embedded (a thread of this process, SQLite by default) or by two Dramatiq worker
processes on Redis (PostgreSQL by default). Printed: time to write the outbox, time
until the nearest 1,000 cooperators were sent, the rate achieved on each channel as a
fraction of its limit, refusals by the fakes, and peak memory.

Telegram at 30 messages/s would need about 20 minutes for its third of 100,000, so the
measurement stops after --window seconds; the rest is cancelled (as staff would by
marking the person found) and the in-flight messages are let finish.

Usage: python benchmarks/broadcast.py --helpers 100000 --mode embedded|dramatiq
       [--database sqlite|postgresql|URL] [--window 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.fanout import enqueue as fanout  # noqa: E402
from alerts.fanout import runner  # noqa: E402
from alerts.fanout.commands import dramatiq_argv  # noqa: E402
from benchmarks.platforms import CHANNELS, Platforms  # noqa: E402
from bot.db import dispose_engine, session_factory, session_scope  # noqa: E402
from bot.models import (  # noqa: E402
    Alert,
    AlertStatus,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    Town,
    utcnow,
)
from bot.settings import settings  # noqa: E402
from routing.directory import prepare_database  # noqa: E402

LIMITS = {"line.multicast": 200.0, "telegram.global": 30.0, "email.send": 50.0}
# The fake platforms enforce the same limits, by channel.
PLATFORM_LIMITS = {"line": LIMITS["line.multicast"], "telegram": LIMITS["telegram.global"],
                   "email": LIMITS["email.send"]}
POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TSUNAGU_TEST_REDIS", "redis://127.0.0.1:6379/0")
LINE_TOKEN = "benchmark-line-token"
TELEGRAM_TOKEN = "123456:benchmark-telegram-token"
NEAREST = 1000
SETTLE_SECONDS = 60.0  # longest wait for in-flight messages after cancelling
BOOT_SECONDS = 60.0  # longest wait for a Dramatiq worker to start


@contextmanager
def database(choice: str) -> Iterator[str]:
    """A fresh database: a temporary SQLite file, or a private PostgreSQL schema dropped afterwards."""
    if choice == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'broadcast.db'}"
        return
    base = POSTGRES_URL if choice == "postgresql" else choice
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(url: str, helpers: int) -> None:
    """``helpers`` cooperators at town centroids, channels in equal thirds, in random towns."""
    rng = random.Random(7)
    with session_scope(url) as session:
        towns = session.execute(select(Town.town_id, Town.latitude, Town.longitude)).all()
        cooperators = []
        for _ in range(helpers):
            town_id, lat, lon = rng.choice(towns)
            cooperators.append({"town_id": town_id, "latitude": lat, "longitude": lon, "language": "ja",
                                "active": True, "consented_at": utcnow()})
        ids = list(session.scalars(insert(Cooperator).returning(Cooperator.id, sort_by_parameter_order=True),
                                   cooperators))
        addresses = {"line": lambda n: f"U{n:032x}", "telegram": lambda n: str(100_000_000 + n),
                     "email": lambda n: f"helper{n}@example.jp"}
        session.execute(insert(CooperatorEndpoint), [
            {"cooperator_id": cooperator_id, "channel": CHANNELS[n % 3], "address": addresses[CHANNELS[n % 3]](n),
             "priority": 0, "active": True}
            for n, cooperator_id in enumerate(ids)
        ])
        if session.get_bind().dialect.name == "postgresql":
            # As a register built up over months would be: with statistics.
            session.execute(text("ANALYZE cooperators"))
            session.execute(text("ANALYZE cooperator_endpoints"))


def configure(url: str, platforms: Platforms, redis_url: str | None) -> dict[str, str]:
    """Point this process's settings at the fakes; return the same as TSUNAGU_* variables."""
    values = {
        "database_url": url, "redis_url": redis_url,
        "line_channel_access_token": LINE_TOKEN, "line_api_host": platforms.line_url,
        "telegram_bot_token": TELEGRAM_TOKEN, "telegram_base_url": platforms.telegram_base_url,
        "smtp_host": "127.0.0.1", "smtp_port": platforms.smtp_port, "smtp_from": "alerts@aoba.example.jp",
        "twilio_account_sid": "", "fanout_rate_limits": LIMITS,
        "fanout_namespace": f"tsunagu-bench-{uuid.uuid4().hex[:8]}", "fanout_slice_seconds": 30.0,
    }
    for name, value in values.items():
        setattr(settings, name, value)
    return {f"TSUNAGU_{name.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
            for name, value in values.items() if value is not None}


def start_workers(env: dict[str, str], count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` Dramatiq worker commands (one process, four threads each) and wait until ready."""
    workers = []
    for number in range(count):
        log = logs / f"worker{number}.log"
        with log.open("wb") as output:
            workers.append(subprocess.Popen(dramatiq_argv(1, 4), cwd=ROOT, env={**os.environ, **env},
                                            stdout=output, stderr=output, start_new_session=True))
    deadline = time.monotonic() + BOOT_SECONDS
    while not all("ready for action" in (logs / f"worker{n}.log").read_text() for n in range(count)):
        if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
            raise RuntimeError("Dramatiq workers did not start:\n" + (logs / "worker0.log").read_text()[-2000:])
        time.sleep(0.1)
    return workers


def forget_redis_keys(namespace: str) -> None:
    """Delete the run's queues and rate-limit buckets from Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each worker command, wait for it, and SIGKILL what has not stopped after 30 s."""
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def worker_peak_rss_mb(worker: subprocess.Popen[bytes]) -> float:
    """Peak resident memory (VmHWM) of a worker command and its child processes, the largest."""
    peaks = []
    for pid in [worker.pid, *_children(worker.pid)]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return max(peaks, default=0.0)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_until(condition: Callable[[], bool], seconds: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def rate(times: list[float], start: float, end: float) -> float:
    """Events per second between ``start`` and ``end``."""
    inside = [moment for moment in times if start <= moment <= end]
    return len(inside) / (end - start) if end > start else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helpers", type=int, default=100_000)
    parser.add_argument("--mode", choices=("embedded", "dramatiq"), default="embedded")
    parser.add_argument("--database", default=None, help="sqlite, postgresql or a URL "
                        "(default: sqlite embedded, postgresql with dramatiq)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of sending to measure")
    parser.add_argument("--workers", type=int, default=2, help="Dramatiq worker commands (--mode dramatiq)")
    args = parser.parse_args()
    # The channels log each 429 they wait out at WARNING: shown, as evidence of the limits.
    logging.basicConfig(level=logging.WARNING, format="  %(name)s: %(message)s")
    choice = args.database or ("sqlite" if args.mode == "embedded" else "postgresql")

    with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
        url = stack.enter_context(database(choice))
        platforms = stack.enter_context(Platforms(PLATFORM_LIMITS))
        env = configure(url, platforms, REDIS_URL if args.mode == "dramatiq" else None)
        began = time.monotonic()
        prepare_database(url)
        seed(url, args.helpers)
        print(f"mode {args.mode}, database {url.split(':')[0]}, {args.helpers} cooperators "
              f"(setup {time.monotonic() - began:.1f} s)")
        if args.mode == "dramatiq":
            stack.callback(forget_redis_keys, settings.fanout_namespace)
        workers = start_workers(env, args.workers, Path(logs)) if args.mode == "dramatiq" else []
        stack.callback(stop_workers, workers)

        with session_scope(url) as session:
            towns = {town_id: (lat, lon) for town_id, lat, lon in session.execute(
                select(Town.town_id, Town.latitude, Town.longitude).order_by(Town.position))}
            center = list(towns)[len(towns) // 2]
            alert = Alert(status=AlertStatus.active, town_id=center, latitude=towns[center][0],
                          longitude=towns[center][1], radius_km=None, description="80代の男性", clothing="紺の上着",
                          approved_by="benchmark", approved_at=utcnow())
            session.add(alert)
        traced = enqueue_peak_mb(url, alert.id)
        started = time.monotonic()
        with session_scope(url) as session:
            queued = fanout.enqueue_alert(session, session.get(Alert, alert.id))
        written = time.monotonic() - started
        print(f"outbox written: {queued:,} rows in {written:.2f} s ({queued / written:,.0f} rows/s); "
              f"peak Python memory while writing {traced:.0f} MB (tracemalloc, separate untimed run)")

        with session_scope(url) as session:
            nearest = set(session.execute(
                select(OutboxItem.channel, OutboxItem.address).where(OutboxItem.alert_id == alert.id)
                .order_by(OutboxItem.distance_m, OutboxItem.id).limit(NEAREST)
            ).all())
        kicked = time.monotonic()
        runner.kick()

        def delivered() -> set[tuple[str, str]]:
            return {(channel, a) for channel, log in platforms.deliveries.items() for _, a in log}

        nearest_done = None
        window_end = kicked + args.window
        while time.monotonic() < window_end:
            if nearest_done is None and nearest <= delivered():
                nearest_done = time.monotonic() - kicked
            time.sleep(0.1)
        with session_scope(url) as session:
            fanout.cancel_pending(session, alert.id)
        settled = _settle(url, alert.id)
        with session_scope(url) as session:
            counts = fanout.progress(session, alert.id)

        print(f"nearest {NEAREST} sent after: "
              + (f"{nearest_done:.2f} s" if nearest_done is not None else f"not within {args.window:.0f} s"))
        print(f"measured for {args.window:.0f} s, then the rest cancelled"
              f"{'' if settled else ' (some messages still in flight after 60 s)'}: {counts}")
        report_rates(platforms, kicked, window_end)
        rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {rss_end:.0f} MB"
              + (" (fakes + embedded sender)" if not workers else " (fakes + outbox writer)"))
        for number, worker in enumerate(workers):
            print(f"peak RSS of worker {number + 1}: {worker_peak_rss_mb(worker):.0f} MB")


def enqueue_peak_mb(url: str, alert_id: int) -> float:
    """Peak Python allocation of writing the alert's outbox, in a run that is then rolled back."""
    tracemalloc.start()
    try:
        with session_factory(url)() as session:
            fanout.enqueue_alert(session, session.get(Alert, alert_id))
            session.rollback()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _settle(url: str, alert_id: int) -> bool:
    def quiet() -> bool:
        with session_scope(url) as session:
            return fanout.progress(session, alert_id)[OutboxState.sending.value] == 0
    return wait_until(quiet, SETTLE_SECONDS, poll=0.5)


def report_rates(platforms: Platforms, kicked: float, window_end: float) -> None:
    """Rate per channel over its busy part of the window, as a fraction of its limit."""
    series = {
        "line": ([moment for moment, _ in platforms.line_requests], "requests"),
        "telegram": ([moment for moment, _ in platforms.deliveries["telegram"]], "messages"),
        "email": ([moment for moment, _ in platforms.deliveries["email"]], "messages"),
    }
    for channel, (times, unit) in series.items():
        if not times:
            print(f"{channel}: nothing sent")
            continue
        first, last = min(times), max(times)
        # A bucket starts full: skip its first second of burst; stop at the window's end
        # or, for a channel that ran out of messages, at its last one.
        end = min(window_end, last)
        start = min(first + 1.0, end)
        achieved = rate(times, start, end) if end - start >= 1.0 else len(times) / max(last - first, 1e-3)
        recipients = f", {sum(n for _, n in platforms.line_requests):,} recipients" if channel == "line" else ""
        limit = PLATFORM_LIMITS[channel]
        print(f"{channel}: {len(times):,} {unit}{recipients} in {last - first:.1f} s from {first - kicked:.2f} s; "
              f"{achieved:.1f} {unit}/s = {achieved / limit:.2f} of {limit:.0f}/s; "
              f"refused by the fake: {platforms.refused[channel]}")


if __name__ == "__main__":
    main()
