"""Soak test: mixed traffic for a long time on loopback, with error rate, p99 and memory over time.

What runs (PostgreSQL in a private schema, Redis, everything on 127.0.0.1):

- ``--serve`` web processes (``bot.app.serve``, what ``tsunagu serve`` runs), each with LINE,
  Telegram, the web chat and the staff API, requests spread over them round-robin (as a
  proxy would); ``--workers`` Dramatiq fan-out workers (what ``tsunagu worker`` runs);
- the rate-limited platform stand-ins of ``benchmarks/platforms.py`` (LINE, Telegram, SMTP);
- residents at fixed rates whatever the answers (open loop): signed LINE text webhooks,
  signed Telegram updates, web chat messages with their session cookie — a mix of greetings,
  questions, worry reports and safety words, from a few hundred residents each;
- staff: every ``--staff-every`` seconds the case list and one case through the staff API;
- one city-wide missing-person alert to ``--cooperators`` cooperators (default 100,000),
  approved ``--alert-at`` seconds in and cancelled after ``--alert-minutes``.

Every ``--sample`` seconds one line: requests and errors in the window, p50/p99 per channel,
the resident memory (RSS) of each process, alert messages delivered, inbox events waiting.
At the end: totals, the error rate, p99 per channel, memory at start / end / peak per
process (a leak shows as steady growth), replies received by the platforms against events
sent.

    python benchmarks/soak.py                       # 30 minutes, the defaults
    python benchmarks/soak.py --minutes 3 --cooperators 10000   # a short run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.fanout import runner  # noqa: E402
from alerts.lifecycle import approve, cancel, create_from_case, widen  # noqa: E402
from benchmarks.broadcast import (  # noqa: E402
    PLATFORM_LIMITS,
    REDIS_URL,
    configure,
    database,
    forget_redis_keys,
    seed,
    start_workers,
    stop_workers,
)
from benchmarks.platforms import Platforms  # noqa: E402
from benchmarks.webhook_load import free_port, percentile, wait_until_up  # noqa: E402
from bot.db import session_scope  # noqa: E402
from bot.models import Alert, CaseKind, InboxEvent, InboxState, Town  # noqa: E402
from bot.settings import settings  # noqa: E402
from bot.staff_api import create_staff_user  # noqa: E402
from routing.areas import resolve_town_id  # noqa: E402
from routing.cases import open_case  # noqa: E402
from routing.directory import prepare_database  # noqa: E402

LINE_SECRET = "soak-line-channel-secret"
TELEGRAM_SECRET = "soak-telegram-secret-token"
# What residents write: everyday questions, reports, greetings and now and then a danger sign.
TEXTS = (
    "こんにちは", "母の介護のことで相談したい", "家賃が払えなくて困っています",
    "隣のおばあさんを最近見かけない。新聞がたまっている", "認知症の父の介護保険の申請はどこですか",
    "子育ての相談はどこでできますか", "ありがとうございました", "Where can I ask about my rent?",
    "近くで集まれる場所はありますか", "父が倒れています", "もう死にたい", "1",
)


def _line_body(user: str, text: str) -> tuple[bytes, dict[str, str]]:
    event = {
        "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user}, "webhookEventId": uuid.uuid4().hex[:26].upper(),
        "deliveryContext": {"isRedelivery": False}, "replyToken": uuid.uuid4().hex,
        "message": {"type": "text", "id": str(time.time_ns()), "quoteToken": uuid.uuid4().hex, "text": text},
    }
    body = json.dumps({"destination": "U0soak", "events": [event]}, ensure_ascii=False).encode()
    signature = base64.b64encode(hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"content-type": "application/json", "x-line-signature": signature}


_update_ids = itertools.count(1)
# Residents' Telegram chat ids start here; cooperators' are below (benchmarks.broadcast.seed).
RESIDENT_CHATS = 900_000_000


def _telegram_body(chat: int, text: str) -> tuple[bytes, dict[str, str]]:
    update = {"update_id": next(_update_ids), "message": {
        "message_id": next(_update_ids), "date": int(time.time()), "text": text,
        "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "住民"}}}
    return (json.dumps(update, ensure_ascii=False).encode(),
            {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET})


class Traffic:
    """The residents' and staff's requests, their latencies and outcomes, by channel."""

    def __init__(self, bases: list[str], staff_token: str, residents: int) -> None:
        self._bases = itertools.cycle(bases)
        self._staff = {"authorization": f"Bearer {staff_token}"}
        self._residents = residents
        self._rng = random.Random(11)
        self._cookies: dict[int, str] = {}
        self.samples: list[tuple[float, str, float, bool]] = []  # (time, channel, seconds, ok)
        self.errors: Counter[str] = Counter()  # "channel status" of every failed request
        self.events_sent: Counter[str] = Counter()  # LINE events and Telegram updates, by channel

    async def _timed(self, channel: str, request: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await request
            ok = response.status_code < 400
            if not ok:
                self.errors[f"{channel} {response.status_code}"] += 1
        except httpx.HTTPError as exc:
            response, ok = None, False
            self.errors[f"{channel} {type(exc).__name__}"] += 1
        self.samples.append((time.monotonic(), channel, time.perf_counter() - started, ok))
        return response

    async def line(self, client: httpx.AsyncClient) -> None:
        body, headers = _line_body(f"Usoak{self._rng.randrange(self._residents):05d}", self._rng.choice(TEXTS))
        self.events_sent["line"] += 1
        await self._timed("line", client.post(f"{next(self._bases)}/webhooks/line", content=body, headers=headers))

    async def telegram(self, client: httpx.AsyncClient) -> None:
        body, headers = _telegram_body(RESIDENT_CHATS + self._rng.randrange(self._residents), self._rng.choice(TEXTS))
        self.events_sent["telegram"] += 1
        await self._timed("telegram", client.post(f"{next(self._bases)}/webhooks/telegram", content=body,
                                                  headers=headers))

    async def webchat(self, client: httpx.AsyncClient) -> None:
        resident = self._rng.randrange(self._residents)
        cookie = self._cookies.get(resident)
        response = await self._timed("webchat", client.post(
            f"{next(self._bases)}/webhooks/webchat/messages", json={"text": self._rng.choice(TEXTS), "language": "ja"},
            headers={"cookie": f"tsunagu_chat={cookie}"} if cookie else {}))
        if response is not None and "tsunagu_chat" in response.cookies:
            self._cookies[resident] = response.cookies["tsunagu_chat"]

    async def staff(self, client: httpx.AsyncClient) -> None:
        response = await self._timed("staff", client.get(f"{next(self._bases)}/api/staff/cases",
                                                         headers=self._staff))
        cases = response.json() if response is not None and response.status_code == 200 else []
        if cases:
            case_id = self._rng.choice(cases)["id"]
            await self._timed("staff", client.get(f"{next(self._bases)}/api/staff/cases/{case_id}",
                                                  headers=self._staff))


async def at_rate(rate: float, until: float, send: Any, tasks: set[asyncio.Task[None]]) -> None:
    """Start ``send()`` ``rate`` times a second until ``until`` (monotonic), whatever the answers."""
    if rate <= 0:
        return
    started = time.monotonic()
    for index in itertools.count():
        due = started + index / rate
        if due > until:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(send())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (a worker command forks its workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pending += [int(child) for child in children]
    return total


def start_serve(env: dict[str, str], port: int, logs: Path) -> subprocess.Popen[bytes]:
    with (logs / f"serve-{port}.log").open("wb") as output:
        return subprocess.Popen([sys.executable, "-c", f"from bot.app import serve; serve('127.0.0.1', {port})"],
                                cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=output,
                                start_new_session=True)


def make_alert(url: str) -> int:
    """A missing-person case in the middle of the city and its city-wide alert, approved."""
    with session_scope(url) as session:
        towns = list(session.scalars(select(Town.town_id).order_by(Town.position)))
        case, _ = open_case(session, kind=CaseKind.missing, topic="missing", counter_id="mimamori-chuo",
                            area=resolve_town_id(session, towns[len(towns) // 2]),
                            details={"who": "80代の男性", "clothing": "紺の上着"}, reason="soak", channel="line",
                            language="ja", urgent=True)
        alert = create_from_case(session, case)
        approve(session, alert, by="soak")
        while alert.radius_km is not None:  # the desk widens it to the whole city at once
            widen(session, alert, by="soak")
        return alert.id


def alert_deliveries(platforms: Platforms) -> int:
    """Messages the platforms delivered to cooperators (resident chats' replies left out)."""
    return sum(1 for channel, log in platforms.deliveries.items() for _, address in log
               if not (channel == "telegram" and int(address) >= RESIDENT_CHATS))


def window_line(traffic: Traffic, since: float, now: float) -> str:
    inside = [sample for sample in traffic.samples if since <= sample[0] < now]
    errors = sum(not ok for *_, ok in inside)
    by_channel: dict[str, list[float]] = defaultdict(list)
    for _, channel, seconds, _ in inside:
        by_channel[channel].append(seconds)
    parts = [f"{channel} p50 {percentile(values, 0.5) * 1000:.0f} p99 {percentile(values, 0.99) * 1000:.0f} ms"
             for channel, values in sorted(by_channel.items())]
    return f"{len(inside)} req, {errors} errors; " + ", ".join(parts)


async def soak(args: argparse.Namespace, url: str, env: dict[str, str], platforms: Platforms,
               logs: Path) -> None:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    bases = []
    try:
        # One after the other: the first trains the classifier when its data changed, the rest load it.
        for number in range(args.serve):
            port = free_port()
            processes[f"serve{number + 1}"] = process = start_serve(env, port, logs)
            bases.append(f"http://127.0.0.1:{port}")
            try:
                await wait_until_up(bases[-1], process, timeout=900)
            except RuntimeError:
                print((logs / f"serve-{port}.log").read_text()[-3000:], file=sys.stderr)
                raise
        for number, worker in enumerate(start_workers(env, args.workers, logs) if args.workers else []):
            processes[f"worker{number + 1}"] = worker
        with session_scope(url) as session:
            _, token = create_staff_user(session, "soak-staff", ["mimamori-chuo", "mimamori-kita", "mimamori-minami"])
        traffic = Traffic(bases, token, args.residents)
        memory: dict[str, list[float]] = {name: [rss_mb(p.pid)] for name, p in processes.items()}
        began = time.monotonic()
        until = began + args.minutes * 60
        tasks: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            loads = [asyncio.create_task(at_rate(rate, until, lambda send=send: send(client), tasks))
                     for rate, send in ((args.line_rate, traffic.line), (args.telegram_rate, traffic.telegram),
                                        (args.webchat_rate, traffic.webchat),
                                        (1 / args.staff_every, traffic.staff))]
            alert_id: int | None = None
            alert_started = 0.0
            last = began
            print(f"{'t':>6}  window")
            while time.monotonic() < until:
                await asyncio.sleep(args.sample)
                now = time.monotonic()
                if alert_id is None and now - began >= args.alert_at:
                    alert_id = await asyncio.to_thread(make_alert, url)
                    alert_started = now
                    runner.kick()
                if alert_id is not None and alert_started and now - alert_started >= args.alert_minutes * 60:
                    with session_scope(url) as session:
                        cancel(session, session.get(Alert, alert_id), by="soak")
                    alert_started = 0.0
                for name, process in processes.items():
                    memory[name].append(rss_mb(process.pid))
                with session_scope(url) as session:
                    waiting = session.scalar(select(func.count()).select_from(InboxEvent)
                                             .where(InboxEvent.state != InboxState.done)) or 0
                delivered = alert_deliveries(platforms)
                rss = " ".join(f"{name} {values[-1]:.0f}" for name, values in memory.items())
                print(f"{now - began:6.0f}  {window_line(traffic, last, now)}; RSS MB {rss}; "
                      f"platform deliveries {delivered}; inbox waiting {waiting}", flush=True)
                last = now
            await asyncio.gather(*loads)
            await asyncio.gather(*tasks)
        await asyncio.sleep(10)  # the last turns answer
        answered = int(httpx.get(f"{platforms.line_url}/bench/answered").json())
        samples = traffic.samples
        errors = sum(not ok for *_, ok in samples)
        print(f"\n{args.minutes:.0f} min, {len(samples)} requests, {errors} errors "
              f"(error rate {errors / max(1, len(samples)):.4%}): {dict(traffic.errors)}")
        for channel in sorted({channel for _, channel, _, _ in samples}):
            values = [seconds for _, c, seconds, _ in samples if c == channel]
            print(f"  {channel}: {len(values)} requests, p50 {percentile(values, 0.5) * 1000:.0f} ms, "
                  f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")
        telegram_answered = len({address for _, address in platforms.deliveries["telegram"]
                                 if int(address) >= RESIDENT_CHATS})
        print(f"  LINE: {traffic.events_sent['line']} events sent, {answered} replies/pushes received; Telegram: "
              f"{traffic.events_sent['telegram']} updates sent, {telegram_answered} resident chats answered")
        for name, values in memory.items():
            print(f"  RSS {name}: start {values[0]:.0f} MB, end {values[-1]:.0f} MB, peak {max(values):.0f} MB")
        print(f"  alert messages delivered by the platforms: {alert_deliveries(platforms)}")
    finally:
        stop_workers(list(processes.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--serve", type=int, default=2, help="web processes")
    parser.add_argument("--workers", type=int, default=1, help="Dramatiq fan-out worker commands")
    parser.add_argument("--cooperators", type=int, default=100_000)
    parser.add_argument("--residents", type=int, default=300, help="distinct residents per channel")
    parser.add_argument("--line-rate", type=float, default=10.0, help="LINE webhooks per second")
    parser.add_argument("--telegram-rate", type=float, default=5.0, help="Telegram updates per second")
    parser.add_argument("--webchat-rate", type=float, default=3.0, help="web chat messages per second")
    parser.add_argument("--staff-every", type=float, default=5.0, help="seconds between staff look-ups")
    parser.add_argument("--alert-at", type=float, default=60.0, help="seconds before the alert is approved")
    parser.add_argument("--alert-minutes", type=float, default=10.0, help="minutes before it is cancelled")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds per report line")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TSUNAGU_DATA_DIR", "tsunagu-data")),
                        help="where the trained classifier is cached")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
        url = stack.enter_context(database("postgresql"))
        platforms = stack.enter_context(Platforms(PLATFORM_LIMITS))
        env = configure(url, platforms, REDIS_URL)
        stack.callback(forget_redis_keys, settings.fanout_namespace)
        env |= {"TSUNAGU_ENVIRONMENT": "test", "TSUNAGU_DATA_DIR": str(args.data_dir.resolve()),
                "TSUNAGU_LINE_CHANNEL_SECRET": LINE_SECRET, "TSUNAGU_TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET}
        began = time.monotonic()
        prepare_database(url)
        seed(url, args.cooperators)
        print(f"{args.serve} web + {args.workers} worker processes, PostgreSQL + Redis, {args.cooperators:,} "
              f"cooperators (setup {time.monotonic() - began:.0f} s); LINE {args.line_rate}/s, Telegram "
              f"{args.telegram_rate}/s, web chat {args.webchat_rate}/s, staff every {args.staff_every} s")
        asyncio.run(soak(args, url, env, platforms, Path(logs)))


if __name__ == "__main__":
    main()
