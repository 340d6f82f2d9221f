"""Sensor events at city scale: 10,000 registered devices, a burst of 1,000 events in a minute.

Demo households (``tsunagu sensors simulate``'s) are registered, one device each (smart
meters, motion sensors and call buttons in turn) and one family contact each (LINE,
Telegram and e-mail in turn). Then ``--events`` distinct devices each send their alarm
(no electricity use, no motion, the call button), signed, spread over ``--within``
seconds, to the real endpoint in this process (``channels.sensors`` → ``alerts.sensors``,
committed before each 202). Printed:

* ingestion: the endpoint's answers, median / p99 / max latency;
* what the burst created: call buttons → an urgent hub case each and a 119 message to the
  family; inactivity → a question to the family each (cases and messages counted against
  the events, every one must be there);
* the escalation housekeeping does when nobody answers: one urgent case per open check,
  and how long the job took;
* the family messages sent by the alert fan-out to rate-limited fakes of LINE, Telegram
  and SMTP (benchmarks/platforms.py) at the limits of ``channels/ratelimit.py``: messages
  delivered per channel, the busiest second against each limit, the refusals (0, or a
  rare one where the fan-out's burst and the fake's meet at the same instant: retried) and
  the most messages to one recipient (Telegram allows a few per chat at once).

Usage: python benchmarks/sensors.py [--devices 10000] [--events 1000] [--within 60]
       [--database sqlite|postgresql|URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.fanout import runner  # noqa: E402
from alerts.sensor_commands import ensure_demo_households, simulate_events  # noqa: E402
from alerts.sensors import escalate_overdue  # noqa: E402
from benchmarks.broadcast import database  # noqa: E402
from benchmarks.platforms import Platforms  # noqa: E402
from bot.db import session_scope  # noqa: E402
from bot.messages import Effect  # noqa: E402
from bot.models import Case, OutboxItem, utcnow  # noqa: E402
from bot.models.sensors import CheckStatus, SafetyCheck, SensorEvent  # noqa: E402
from bot.settings import settings  # noqa: E402
from channels.ratelimit import LIMITS  # noqa: E402
from routing.directory import prepare_database  # noqa: E402

FAMILY_CHANNELS = ("line", "telegram", "email")
# The platforms' own limits, as channels/ratelimit.py has them (LINE: one push per message here:
# each family message is its own text), and the fan-out's e-mail rate.
PLATFORM_LIMITS = {"line": LIMITS["line.multicast"].rate, "telegram": LIMITS["telegram.global"].rate,
                   "email": settings.fanout_email_rate}


def configure(url: str, platforms: Platforms) -> None:
    """Point this process's settings at the database and the fakes (no Redis: the embedded path)."""
    values = {
        "database_url": url, "redis_url": None, "sensor_secret": f"bench-{uuid.uuid4().hex}",
        # A burst of one event per device: the per-device limit is not what is measured.
        "sensor_events_per_minute": 30,
        "line_channel_access_token": "bench-line-token", "line_api_host": platforms.line_url,
        "telegram_bot_token": "123456:bench-telegram-token", "telegram_base_url": platforms.telegram_base_url,
        "smtp_host": "127.0.0.1", "smtp_port": platforms.smtp_port, "smtp_from": "mimamori@aoba.example.jp",
        "twilio_account_sid": "",
    }
    for name, value in values.items():
        setattr(settings, name, value)


def count(url: str, query: object) -> int:
    with session_scope(url) as session:
        return int(session.scalar(query) or 0)  # type: ignore[arg-type]


def created(url: str) -> dict[str, int]:
    """What the burst left in the database."""
    with session_scope(url) as session:
        checks = Counter((trigger, status.value) for trigger, status in session.execute(
            select(SafetyCheck.trigger, SafetyCheck.status)))
        kinds = Counter(kind.partition(":")[0] for kind in session.scalars(select(OutboxItem.kind)))
        return {
            "events": int(session.scalar(select(func.count(SensorEvent.id))) or 0),
            "checks": sum(checks.values()),
            "call buttons escalated": checks[("call_button", CheckStatus.escalated.value)],
            "inactivity waiting": sum(n for (trigger, status), n in checks.items()
                                      if trigger != "call_button" and status == CheckStatus.pending.value),
            "urgent hub cases": int(session.scalar(select(func.count(Case.id)).where(Case.urgent.is_(True))) or 0),
            "family questions": kinds["check"],
            "family 119 messages": kinds["sos"],
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--within", type=float, default=60.0, help="seconds the burst is spread over")
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a database URL")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--send-window", type=float, default=120.0, help="seconds given to the fan-out")
    parser.add_argument("--quick", action="store_true", help="1,000 devices, 100 events in 6 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.devices, args.events, args.within, args.send_window = 1_000, 100, 6.0, 30.0
    if args.events > args.devices:
        parser.error("--events is at most --devices (one event per device)")

    with ExitStack() as stack:
        url = stack.enter_context(database(args.database))
        platforms = stack.enter_context(Platforms(PLATFORM_LIMITS))
        configure(url, platforms)
        began = time.monotonic()
        prepare_database(url)
        with session_scope(url) as session:
            devices = ensure_demo_households(session, args.devices, FAMILY_CHANNELS)
        print(f"database {url.split(':')[0]}: {args.devices:,} devices registered in {time.monotonic() - began:.1f} s")

        burst = random.Random(14).sample(devices, args.events)
        committed: list[Effect] = []
        result = asyncio.run(simulate_events(burst, args.events, args.within, after_commit=committed.extend,
                                             concurrency=args.concurrency))
        print(f"ingestion: {result.summary()}")
        after_burst = created(url)
        calls = sum(1 for _, event in burst if event == "call_button")
        expected = {"events": args.events, "checks": args.events, "call buttons escalated": calls,
                    "inactivity waiting": args.events - calls, "urgent hub cases": calls,
                    "family questions": args.events - calls, "family 119 messages": calls}
        for name, number in after_burst.items():
            flag = "" if number == expected[name] else "  MISSING"
            print(f"  {name}: {number:,} (expected {expected[name]:,}){flag}")

        later = utcnow() + timedelta(minutes=settings.sensor_check_wait_minutes)
        started = time.monotonic()
        with session_scope(url) as session:
            escalated = len(escalate_overdue(session, later))
        print(f"no answer: {escalated:,} checks escalated to the hub in {time.monotonic() - started:.2f} s; "
              f"urgent hub cases now {count(url, select(func.count(Case.id)).where(Case.urgent.is_(True))):,} "
              f"(expected {args.events:,})")

        queued = count(url, select(func.count(OutboxItem.id)))
        started = time.monotonic()
        counts = runner.process_outbox(list(FAMILY_CHANNELS), seconds=args.send_window)
        took = time.monotonic() - started
        sent = sum(outcomes.get("sent", 0) for outcomes in counts.values())
        print(f"family messages: {sent:,} of {queued:,} sent in {took:.1f} s")
        for channel in FAMILY_CHANNELS:
            arrivals = sorted(moment for moment, _ in platforms.deliveries[channel])
            # The busiest second: the platform allows a burst of its rate, then its rate per second.
            peak = max((sum(1 for later in arrivals[first:] if later - moment < 1.0)
                        for first, moment in enumerate(arrivals)), default=0)
            most = max(Counter(address for _, address in platforms.deliveries[channel]).values(), default=0)
            print(f"  {channel}: {len(arrivals):,} delivered; busiest second {peak} "
                  f"(limit {PLATFORM_LIMITS[channel]:g}/s, a burst of as many first); refused by the platform "
                  f"{platforms.refused[channel]} (retried); most to one recipient {most}")
        missing = [name for name, number in after_burst.items() if number != expected[name]]
        return 1 if missing or escalated != args.events - calls or sent != queued else 0


if __name__ == "__main__":
    raise SystemExit(main())
