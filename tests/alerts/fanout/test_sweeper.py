"""A kick is a hint: the sweepers of ``serve`` and ``tsunagu worker`` send what is queued whatever
became of it (issue 15, defect 2: an alert approved while Redis was unreachable stayed unsent).

Redis is real: "unreachable" is a port nothing listens on, "back" is the test server's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from alerts.fanout import runner
from alerts.fanout.commands import dramatiq_argv
from alerts.fanout.items import configured_channels
from bot.app import queue_sweeps
from bot.settings import settings
from bot.workqueue import Sweeper
from tests.alerts.fanout.conftest import REDIS_URL, City, Fakes, address, enqueue, make_alert, outbox_states, seed

ROOT = Path(__file__).resolve().parents[3]
UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once
HELPERS = [("line", 1), ("line", 2), ("telegram", 3), ("email", 4)]


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _approved_while_redis_is_down(db_url: str, city: City, monkeypatch: pytest.MonkeyPatch) -> int:
    """Rows queued and kicked, but the kick never reached Redis."""
    seed(db_url, city, [[(channel, address(channel, number))] for channel, number in HELPERS])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    monkeypatch.setattr(settings, "redis_url", UNREACHABLE)
    enqueue(db_url, alert_id)
    runner.kick()  # logged, not raised: the outbox is durable
    return alert_id


def _fanout_messages(namespace: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return client.hlen(f"{namespace}:dramatiq:fanout.msgs")
    finally:
        client.close()


def test_the_serve_sweeper_kicks_the_workers_once_redis_is_back(
    redis_namespace: str, fakes: Fakes, city: City, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_id = _approved_while_redis_is_down(db_url, city, monkeypatch)
    assert _fanout_messages(redis_namespace) == 0, "the kick reached Redis"
    sweeper = Sweeper("test-sweeper", queue_sweeps(db_url), interval=3600)

    sweeper.sweep_once()  # still down: logged, nothing lost
    assert _fanout_messages(redis_namespace) == 0
    monkeypatch.setattr(settings, "redis_url", REDIS_URL)  # Redis is back
    sweeper.sweep_once()
    assert _fanout_messages(redis_namespace) == len(configured_channels())  # one message per channel
    assert outbox_states(db_url, alert_id)["queued"] == len(HELPERS)


def test_the_embedded_sweeper_sends_rows_whose_kick_was_lost(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    seed(db_url, city, [[(channel, address(channel, number))] for channel, number in HELPERS])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)  # e.g. committed by another process, or killed before its kick
    sweeper = Sweeper("test-sweeper", queue_sweeps(db_url), interval=0.05).start()
    try:
        _until(lambda: outbox_states(db_url, alert_id)["sent"] == len(HELPERS), "the sweeper to send the alert")
    finally:
        sweeper.stop(10)
    assert sorted(fakes.deliveries()["line"]) == [address("line", 1), address("line", 2)]
    assert runner.sweep(db_url) is False  # nothing due: no pass started


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_alert_approved_while_redis_was_unreachable_is_sent_by_a_running_worker_without_any_other_action(
    redis_namespace: str, fanout_env: dict[str, str], fakes: Fakes, city: City, db_url: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    environment = {**os.environ, **fanout_env, "TSUNAGU_QUEUE_SWEEP_SECONDS": "0.5"}
    with log.open("ab") as output:
        worker = subprocess.Popen(dramatiq_argv(1, 2), cwd=ROOT, env=environment, stdout=output, stderr=output,
                                  start_new_session=True)
    try:
        _until(lambda: b"ready for action" in log.read_bytes(), f"the worker to boot: {log.read_text()[-2000:]}")
        alert_id = _approved_while_redis_is_down(db_url, city, monkeypatch)  # after its boot-time kick
        _until(lambda: outbox_states(db_url, alert_id)["sent"] == len(HELPERS),
               f"the worker's sweeper to send the alert: {log.read_text()[-2000:]}")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    received = fakes.deliveries()
    assert sorted(received["line"] + received["telegram"] + received["email"]) == sorted(
        address(channel, number) for channel, number in HELPERS)
