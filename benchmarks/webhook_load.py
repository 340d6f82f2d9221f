"""LINE webhook load test: requests per second and p99 response time of ``POST /webhooks/line``.

Starts ``uvicorn`` serving ``bot.app:create_app`` on 127.0.0.1 in a child process (the
real engine, flows and database), with the LINE API pointed at the fake LINE server of
``tests/fakes`` running in this process, then sends signed text-message webhooks from a
fixed number of concurrent connections. Everything stays on loopback, and the run is
bounded by ``--requests`` and ``--max-seconds``.

It prints, per database: webhook requests/s and latency percentiles (the figure LINE
cares about: webhooks must be answered quickly), then how long the background turns
took until every reply had reached the fake LINE API (end-to-end events/s).

    python benchmarks/webhook_load.py                      # SQLite and PostgreSQL
    python benchmarks/webhook_load.py --databases sqlite --requests 500

PostgreSQL runs in a private schema of ``--postgres-url`` that is dropped afterwards.
Target: >= 200 requests/s with p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.line import FakeLineAPI, LineEvents

SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"
TEXTS = [
    "隣のおばあさんを最近見かけない。新聞がたまっている",
    "母の介護のことで相談したい",
    "家賃が払えなくて困っています",
    "こんにちは",
    "認知症の父の介護保険の申請はどこですか",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str, line_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TSUNAGU_ENVIRONMENT": "test",
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_DATA_DIR": str(data_dir),
        "TSUNAGU_LINE_CHANNEL_SECRET": SECRET,
        "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "TSUNAGU_LINE_API_HOST": line_url,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "uvicorn", "bot.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start in time")


async def wait_for_replies(api: FakeLineAPI, expected: int, timeout: float) -> float | None:
    """Seconds until ``expected`` replies/pushes reached the fake, or None on time-out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if len(api.calls("/reply")) + len(api.calls("/push")) >= expected:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return None


async def load(base: str, events: LineEvents, count: int, concurrency: int, max_seconds: float,
               users: int) -> tuple[list[float], int, float]:
    """Send ``count`` webhooks; returns latencies (s), failures and wall time."""
    bodies = []
    for index in range(count):
        body, headers = events.body(events.text(f"Ubench{index % users:05d}", TEXTS[index % len(TEXTS)]))
        bodies.append((body.encode(), headers))
    latencies: list[float] = []
    failures = 0
    queue = iter(bodies)
    deadline = time.monotonic() + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for body, headers in queue:
            if time.monotonic() > deadline:
                return
            sent = time.perf_counter()
            response = await client.post(f"{base}/webhooks/line", content=body, headers=headers)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                failures += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, failures, wall


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run_one(name: str, database_url: str, args: argparse.Namespace) -> dict[str, object]:
    with FakeLineAPI(TOKEN) as api:
        events = LineEvents(api, SECRET)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_server(database_url, api.url, args.data_dir, port)
        try:
            await wait_until_up(base, process)
            # Warm-up: the first turns load the classifier.
            warm, _, _ = await load(base, events, args.warmup, 4, 120, users=args.warmup)
            await wait_for_replies(api, len(warm), timeout=120)
            before = len(api.calls("/reply")) + len(api.calls("/push"))
            latencies, failures, wall = await load(base, events, args.requests, args.concurrency,
                                                   args.max_seconds, args.users)
            drained = await wait_for_replies(api, before + len(latencies), timeout=args.max_seconds * 4)
        finally:
            process.terminate()
            process.wait(30)
    done = len(latencies)
    result: dict[str, object] = {
        "database": name,
        "requests": done,
        "failures": failures,
        "requests_per_s": round(done / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "end_to_end_events_per_s": round(done / (wall + drained), 1) if drained is not None else None,
    }
    return result


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'bench.db'}"


async def main(args: argparse.Namespace) -> int:
    results = []
    for name in args.databases:
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                results.append(await run_one(name, sqlite_url(Path(directory)), args))
        else:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.postgres_url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                url = f"{args.postgres_url}?options=-csearch_path%3D{schema}"
                results.append(await run_one(name, url, args))
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(f"{'database':<11}{'requests':>9}{'fail':>6}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'e2e ev/s':>10}")
    for r in results:
        print(f"{r['database']:<11}{r['requests']:>9}{r['failures']:>6}{r['requests_per_s']:>9}{r['p50_ms']:>9}"
              f"{r['p90_ms']:>9}{r['p99_ms']:>9}{r['max_ms']:>9}{r['end_to_end_events_per_s']!s:>10}")
    print(json.dumps(results))
    target = all(float(r["requests_per_s"]) >= 200 and float(r["p99_ms"]) <= 100 for r in results)  # type: ignore[arg-type]
    print("target (>= 200 req/s, p99 <= 100 ms):", "met" if target else "NOT met")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200, help="distinct LINE users sending")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TSUNAGU_DATA_DIR", "tsunagu-data")),
                        help="where the trained classifier is cached")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
