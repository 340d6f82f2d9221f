"""p50/p99 of one engine turn on the embedded default (console channel, SQLite, offline model).

Runs whole conversations (ask_where, worry report, small talk) against a fresh SQLite
file and times every turn. Usage: python benchmarks/turn_latency.py [--conversations 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.progress import track

from bot.app import build_engine
from bot.messages import InboundMessage
from bot.settings import settings
from intents.classifier import get_classifier
from routing.directory import prepare_database

SCRIPTS = (
    ("母の介護のことで相談したい", "北区柳町", "いいえ"),
    ("隣のおばあさんを最近見かけない。新聞がたまっている", "南区朝日町3丁目", "3日前から", "いいえ", "はい"),
    ("こんにちは", "1", "家賃が払えない", "中央区本町"),
    ("I can't pay my rent", "Minami-ku", "no"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=60)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        settings.database_url = url
        prepare_database(url)
        get_classifier()
        engine = build_engine(url)
        start = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
        timings: list[float] = []
        for number in track(range(args.conversations), description="conversations"):
            for turn, text in enumerate(SCRIPTS[number % len(SCRIPTS)]):
                message = InboundMessage(channel="console", user_id=f"bench-{number}", text=text,
                                         event_id=f"{number}-{turn}",
                                         received_at=start + timedelta(minutes=number, seconds=turn))
                began = time.perf_counter()
                engine.handle(message)
                timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"turns: {len(timings)}")
    print(f"p50: {statistics.median(timings):.1f} ms   p99: {p99:.1f} ms   max: {timings[-1]:.1f} ms")


if __name__ == "__main__":
    main()
