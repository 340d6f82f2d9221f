"""LINE webhook load test: requests per second and p99 response time of ``POST /webhooks/line``.

Starts ``bot.app.serve`` (what ``tsunagu serve`` runs: uvicorn and ``create_app()``) on
127.0.0.1 in a child process, with the real engine, flows and database, and the LINE API
pointed at the fake LINE API of ``benchmarks/platforms.py`` in a second child process. Then, per
database, with signed text-message webhooks from 200 LINE users:

1. the **latency at the target rate**: requests sent at a fixed rate (``--rate``, 200/s)
   whatever the answers, as LINE does: requests/s, p50/p99/max response time, when
   the background turns had sent every reply, and the web processes' CPU time per answered
   event (acknowledgement and turn: a figure a machine busy with other work still measures
   fairly, unlike the times);
2. the **saturation throughput**: as fast as ``--concurrency`` connections go.

Everything stays on loopback; each phase is bounded by ``--requests`` and ``--max-seconds``.
``--processes N`` starts N web processes (each acknowledging webhooks and running turns from
the shared durable inbox) and spreads the requests over them round-robin, as a proxy would.
``--turn-workers M`` starts M ``tsunagu turns`` processes and sets ``TSUNAGU_TURN_MODE=worker``:
the web processes only acknowledge, the turn workers run the turns.

    python benchmarks/webhook_load.py                      # SQLite and PostgreSQL
    python benchmarks/webhook_load.py --databases sqlite --requests 500
    python benchmarks/webhook_load.py --databases postgresql --processes 2 --rate 400
    python benchmarks/webhook_load.py --databases postgresql --processes 1 --turn-workers 2 --rate 400

PostgreSQL runs in a private schema of ``--postgres-url`` that is dropped afterwards.
Target (issue 15): with two processes on PostgreSQL, webhook ack p99 <= 20 ms at 400 req/s offered
and >= 400 turns/s completed (every reply sent within requests / 400 s of the first request).
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
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.platforms import Platforms

SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"
TEXTS = [
    "隣のおばあさんを最近見かけない。新聞がたまっている",
    "母の介護のことで相談したい",
    "家賃が払えなくて困っています",
    "こんにちは",
    "認知症の父の介護保険の申請はどこですか",
]


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system) the processes used so far, from ``/proc`` (Linux)."""
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_fake_line_api(port_file: str) -> None:
    """Child process: serve the fake LINE API until killed; write its port to ``port_file``.

    ``GET /bench/answered`` counts the replies and pushes it received.
    """
    with Platforms() as platforms:
        Path(port_file).write_text(str(platforms.http_port))
        while True:
            time.sleep(3600)


def start_fake_line_api(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = directory / "line-port"
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from benchmarks.webhook_load import run_fake_line_api; run_fake_line_api({str(port_file)!r})")
    command = [sys.executable, "-c", code]
    process = subprocess.Popen(command, cwd=ROOT)
    for _ in range(300):
        if port_file.exists() and port_file.read_text():
            return process, f"http://127.0.0.1:{port_file.read_text()}"
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the fake LINE API did not start")


def server_env(database_url: str, line_url: str, data_dir: Path, turn_workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "TSUNAGU_ENVIRONMENT": "test",
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_DATA_DIR": str(data_dir),
        "TSUNAGU_LINE_CHANNEL_SECRET": SECRET,
        "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "TSUNAGU_LINE_API_HOST": line_url,
        "PYTHONPATH": str(ROOT),
        "TSUNAGU_TURN_MODE": "worker" if turn_workers else "serve",
    }


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", f"from bot.app import serve; serve('127.0.0.1', {port})"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def start_turn_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``tsunagu turns`` (what ``bot.app.turns`` runs), at its configured lower priority."""
    return subprocess.Popen([sys.executable, "-c", "from bot.app import turns; turns()"], cwd=ROOT, env=env)


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


async def answered(line_url: str) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{line_url}/bench/answered")).json())


async def wait_for_replies(line_url: str, expected: int, timeout: float) -> float | None:
    """Seconds until ``expected`` replies/pushes reached the fake, or None on time-out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await answered(line_url) >= expected:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    return None


def signed_bodies(count: int, users: int) -> list[tuple[bytes, dict[str, str]]]:
    """Text-message webhooks from ``users`` LINE users, shaped and signed as LINE sends them."""
    bodies = []
    for index in range(count):
        event = {
            "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": f"Ubench{index % users:05d}"},
            "webhookEventId": uuid.uuid4().hex[:26].upper(), "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex,
            "message": {"type": "text", "id": str(time.time_ns()), "quoteToken": uuid.uuid4().hex,
                        "text": TEXTS[index % len(TEXTS)]},
        }
        body = json.dumps({"destination": "U0bench", "events": [event]}, ensure_ascii=False).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        bodies.append((body, {"content-type": "application/json", "x-line-signature": signature}))
    return bodies


class LeanClient:
    """HTTP/1.1 POSTs on kept-alive loopback connections, written by hand.

    The load comes from this process on the same two cores as the servers: httpx spent about
    1.5 ms of CPU per request (0.6 of a core at 400 req/s), which the servers then lacked. This
    writes prepared bytes and reads the status line and a ``Content-Length`` body: what wrk does.
    """

    def __init__(self, limit: int) -> None:
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self._slots = asyncio.Semaphore(limit)

    async def post(self, base: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``base + path``; the response's status code."""
        host, port = base.removeprefix("http://").rsplit(":", 1)
        key = (host, int(port))
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n{head}"
                   f"content-length: {len(body)}\r\n\r\n").encode() + body
        async with self._slots:
            idle = self._idle.setdefault(key, [])
            reused = bool(idle)
            reader, writer = idle.pop() if reused else await asyncio.open_connection(*key)
            try:
                writer.write(request)
                status_line = await reader.readline()
                if not status_line and reused:
                    # The server closed the idle connection (its keep-alive ran out): nothing
                    # was read, so the request goes again on a new one, as any HTTP client does.
                    writer.close()
                    reader, writer = await asyncio.open_connection(*key)
                    writer.write(request)
                    status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                status = int(status_line.split()[1])
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as error:
                writer.close()
                raise ConnectionError("the server dropped the connection") from error
            idle.append((reader, writer))
            return status

    def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()


async def closed_loop(bases: list[str], bodies: list[tuple[bytes, dict[str, str]]], concurrency: int,
                      max_seconds: float) -> tuple[list[float], int, float]:
    """Send as fast as ``concurrency`` connections allow: the saturation throughput."""
    latencies: list[float] = []
    failures = 0
    queue = iter(bodies)
    targets = itertools.cycle(bases)
    deadline = time.monotonic() + max_seconds
    client = LeanClient(concurrency)

    async def worker() -> None:
        nonlocal failures
        for body, headers in queue:
            if time.monotonic() > deadline:
                return
            sent = time.perf_counter()
            try:
                status = await client.post(next(targets), "/webhooks/line", body, headers)
            except ConnectionError:  # a failed request
                failures += 1
                continue
            latencies.append(time.perf_counter() - sent)
            failures += status != 200

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        client.close()
    return latencies, failures, time.perf_counter() - started


async def open_loop(bases: list[str], bodies: list[tuple[bytes, dict[str, str]]], rate: float,
                    max_seconds: float) -> tuple[list[float], int, float]:
    """Send at a fixed rate whatever the answers (as LINE does): latency at that load.

    Each request's latency counts from when it was due, not when it was sent: a sender that
    fell behind (coordinated omission) does not hide the wait.
    """
    latencies: list[float] = []
    failures = 0
    client = LeanClient(256)

    async def one(base: str, body: bytes, headers: dict[str, str], due: float) -> None:
        nonlocal failures
        try:
            status = await client.post(base, "/webhooks/line", body, headers)
        except ConnectionError:  # a failed request
            failures += 1
            return
        latencies.append(time.perf_counter() - due)
        failures += status != 200

    started = time.perf_counter()
    tasks = []
    try:
        for index, (body, headers) in enumerate(bodies):
            due = started + index / rate
            if due - started > max_seconds:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(bases[index % len(bases)], body, headers, due)))
        await asyncio.gather(*tasks)
    finally:
        client.close()
    return latencies, failures, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(latencies: list[float], failures: int, wall: float) -> dict[str, Any]:
    return {
        "requests": len(latencies),
        "failures": failures,
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


async def run_one(name: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        fake, line_url = start_fake_line_api(Path(directory))
        processes: list[subprocess.Popen[bytes]] = []
        workers: list[subprocess.Popen[bytes]] = []
        bases: list[str] = []
        env = server_env(database_url, line_url, args.data_dir, args.turn_workers)
        try:
            # One after the other: the first trains the classifier when its data changed.
            for _ in range(args.processes):
                port = free_port()
                bases.append(f"http://127.0.0.1:{port}")
                processes.append(start_server(env, port))
                await wait_until_up(bases[-1], processes[-1], timeout=900)
            workers = [start_turn_worker(env) for _ in range(args.turn_workers)]
            warm = signed_bodies(args.warmup, args.users)
            await closed_loop(bases, warm, 4, 60)
            if await wait_for_replies(line_url, len(warm), timeout=300) is None:
                raise RuntimeError("the warm-up requests were not answered")

            # 1. Latency at the target rate, open loop, then let the background turns finish.
            before = await answered(line_url)
            web_before, turns_before = cpu_seconds(processes), cpu_seconds(workers)
            steady = await open_loop(bases, signed_bodies(args.requests, args.users), args.rate,
                                     args.max_seconds)
            drained = await wait_for_replies(line_url, before + len(steady[0]), timeout=args.max_seconds * 4)
            # CPU per answered event (its acknowledgement and its turn), in the web processes and
            # the turn workers: what a machine shared with other work still measures fairly.
            answered_events = await answered(line_url) - before
            web_cpu = (cpu_seconds(processes) - web_before) / max(1, answered_events)
            turns_cpu = (cpu_seconds(workers) - turns_before) / max(1, answered_events)
            # 2. Saturation throughput, closed loop.
            before = await answered(line_url)
            saturated = await closed_loop(bases, signed_bodies(args.requests, args.users),
                                          args.concurrency, args.max_seconds)
            await wait_for_replies(line_url, before + len(saturated[0]), timeout=args.max_seconds * 4)
        finally:
            for process in processes + workers:
                process.terminate()
            for process in processes + workers:
                # A server still working through a backlog drains it before it exits: the
                # figures are taken already, so it is not waited for longer than this.
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(30)
            fake.kill()
            fake.wait(30)
    return {
        "database": name,
        "processes": args.processes,
        "turn_workers": args.turn_workers,
        "at_rate": {"offered_per_s": args.rate, **summary(*steady),
                    "all_answered_after_s": round(steady[2] + drained, 1) if drained is not None else None,
                    "answered": answered_events, "web_cpu_ms_per_event": round(web_cpu * 1000, 2),
                    "turn_worker_cpu_ms_per_event": round(turns_cpu * 1000, 2)},
        "saturation": {"concurrency": args.concurrency, **summary(*saturated)},
    }


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
    for r in results:
        rate, sat = r["at_rate"], r["saturation"]
        layout = f"{r['database']}, {r['processes']} web process(es), {r['turn_workers']} turn worker(s)"
        print(f"{layout}: at {rate['offered_per_s']} req/s offered: {rate['requests_per_s']} req/s, "
              f"p50 {rate['p50_ms']} ms, p99 {rate['p99_ms']} ms, max {rate['max_ms']} ms, failures "
              f"{rate['failures']}; every reply sent {rate['all_answered_after_s']} s after the first request "
              f"({rate['answered']} answered; CPU per answered event: web processes {rate['web_cpu_ms_per_event']} ms, "
              f"turn workers {rate['turn_worker_cpu_ms_per_event']} ms)")
        print(f"{layout}: saturation ({sat['concurrency']} connections): {sat['requests_per_s']} req/s, "
              f"p50 {sat['p50_ms']} ms, p99 {sat['p99_ms']} ms, failures {sat['failures']}")
    print(json.dumps(results))
    acks = all(r["at_rate"]["p99_ms"] <= 20 for r in results)
    turns = all(r["at_rate"]["all_answered_after_s"] is not None
                and r["at_rate"]["requests"] / r["at_rate"]["all_answered_after_s"] >= 400 for r in results)
    print(f"targets (issue 15): ack p99 <= 20 ms at {args.rate:g} req/s offered:", "met" if acks else "NOT met",
          "| >= 400 turns/s completed:", "met" if turns else "NOT met")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase")
    parser.add_argument("--rate", type=float, default=200.0, help="offered load of the latency phase (req/s)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="web processes sharing the database")
    parser.add_argument("--turn-workers", type=int, default=0,
                        help="`tsunagu turns` processes (TSUNAGU_TURN_MODE=worker); 0: the web processes run the turns")
    parser.add_argument("--users", type=int, default=200, help="distinct LINE users sending")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TSUNAGU_DATA_DIR", "tsunagu-data")),
                        help="where the trained classifier is cached")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
