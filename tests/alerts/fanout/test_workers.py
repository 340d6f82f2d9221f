"""Workers that die mid-broadcast: whoever comes next finishes the job, without duplicates.

The fakes stop answering after a few accepted requests, the worker process is killed
with SIGKILL while requests hang, and a new worker takes over. LINE had *accepted* the
hanging multicast (as if the worker died before reading the answer): the rows are taken
back as the same group, the retry key repeats, LINE refuses the duplicate with a 409,
and the rows count as sent. Telegram and SMTP had not delivered the hanging messages,
so those are sent again — once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.settings import settings
from alerts.fanout import runner
from alerts.fanout.commands import dramatiq_argv
from tests.alerts.fanout.conftest import Fakes, address, enqueue, make_alert, outbox_states, seed

pytestmark = pytest.mark.slow  # worker processes killed and restarted: 8-13 s each

ROOT = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 2.0


def _cooperators() -> list[list[tuple[str, str]]]:
    # 1,200 on LINE (three multicasts), 300 on Telegram, 300 by e-mail.
    mix = ["line"] * 1200 + ["telegram"] * 300 + ["email"] * 300
    return [[(channel, address(channel, number))] for number, channel in enumerate(mix)]


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stall_everything(fakes: Fakes) -> None:
    fakes.line.stall_after(1)  # the second multicast is accepted and never answered
    fakes.telegram.stall_after(120)
    fakes.smtp.stall_after(100)


def _all_stalled(fakes: Fakes) -> bool:
    return all(fake.stall.stalled > 0 for fake in (fakes.line, fakes.telegram, fakes.smtp))


def _wait_until_hanging(fakes: Fakes, log: Path) -> None:
    _until(lambda: _all_stalled(fakes), 60, f"every channel to hang; the worker said: {log.read_text()[-3000:]}")
    # Outcomes are recorded within 0.1 s; the kill lands while only the hanging requests
    # are unaccounted for, the moment this test is about.
    time.sleep(0.5)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=output,
                                start_new_session=True)


def _kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(30)


def _assert_once_each(fakes: Fakes, cooperators: list[list[tuple[str, str]]]) -> None:
    received = fakes.deliveries()
    counts = Counter((channel, where) for channel, addresses in received.items() for where in addresses)
    assert counts == Counter(endpoint for wanted in cooperators for endpoint in wanted)
    # The hanging multicast was retried under its key and refused as already accepted.
    assert fakes.line.duplicates_refused >= 1


def _stalled_broadcast(
    fanout_env: dict[str, str], fakes: Fakes, city, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[list, int]:
    """An approved alert to the test cooperators, with every fake platform hanging."""
    monkeypatch.setattr(settings, "fanout_lease_seconds", LEASE_SECONDS)
    fanout_env["TSUNAGU_FANOUT_LEASE_SECONDS"] = str(LEASE_SECONDS)
    cooperators = _cooperators()
    seed(db_url, city, cooperators)
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    assert enqueue(db_url, alert_id) == len(cooperators)
    _stall_everything(fakes)
    return cooperators, alert_id


def test_an_embedded_sender_killed_mid_broadcast_is_finished_by_the_next(
    fanout_env: dict[str, str], fakes: Fakes, city, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cooperators, alert_id = _stalled_broadcast(fanout_env, fakes, city, db_url, monkeypatch)

    log = tmp_path / "sender.log"
    sender = _start([sys.executable, "-c", "from alerts.fanout.runner import process_outbox; process_outbox()"],
                    fanout_env, log)
    try:
        _wait_until_hanging(fakes, log)
    finally:
        _kill(sender)
    assert outbox_states(db_url, alert_id)["sending"] > 0
    fakes.release()

    runner.kick()  # this process takes over once the dead sender's leases run out
    assert runner.wait(60)
    _assert_once_each(fakes, cooperators)
    assert outbox_states(db_url, alert_id)["sent"] == len(cooperators)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dramatiq_worker_killed_mid_broadcast_is_finished_by_a_restarted_one(
    redis_namespace: str, fanout_env: dict[str, str], fakes: Fakes, city, db_url: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cooperators, alert_id = _stalled_broadcast(fanout_env, fakes, city, db_url, monkeypatch)

    log = tmp_path / "worker.log"
    first = _start(dramatiq_argv(1, 4), fanout_env, log)
    try:
        runner.kick()
        _wait_until_hanging(fakes, log)
    finally:
        _kill(first)
    assert outbox_states(db_url, alert_id)["sending"] > 0
    fakes.release()

    second = _start(dramatiq_argv(1, 4), fanout_env, log)  # kicks the outbox when it boots
    try:
        _until(lambda: outbox_states(db_url, alert_id)["sent"] == len(cooperators), 60,
               f"the restarted worker to finish; it said: {log.read_text()[-3000:]}")
    finally:
        _kill(second, signal.SIGTERM)
    _assert_once_each(fakes, cooperators)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_senders_killed_at_random_points_reach_everyone_with_at_most_one_duplicate_per_kill(
    fanout_env: dict[str, str], fakes: Fakes, city, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """kill -9 of the embedded sender whenever the platforms have taken a random number of further
    messages: nobody is missed, and Telegram and e-mail (no idempotency key) repeat at most the
    one message each killed sender had in flight (docs/reliability.md)."""
    monkeypatch.setattr(settings, "fanout_lease_seconds", 1.0)
    fanout_env["TSUNAGU_FANOUT_LEASE_SECONDS"] = "1.0"
    mix = ["telegram"] * 300 + ["email"] * 300 + ["line"] * 600
    cooperators = [[(channel, address(channel, number))] for number, channel in enumerate(mix)]
    seed(db_url, city, cooperators)
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    chooser = random.Random(15)
    log = tmp_path / "sender.log"
    kills = 0
    for _ in range(5):
        taken = len(fakes.telegram.deliveries) + len(fakes.smtp.deliveries)
        if taken >= 600:
            break
        target = taken + chooser.randint(10, 80)
        sender = _start([sys.executable, "-c", "from alerts.fanout.runner import process_outbox; process_outbox()"],
                        fanout_env, log)
        try:
            _until(lambda: len(fakes.telegram.deliveries) + len(fakes.smtp.deliveries) >= target
                   or sender.poll() is not None, 60, f"messages to flow; the sender said: {log.read_text()[-3000:]}")
        finally:
            kills += sender.poll() is None
            _kill(sender)

    runner.kick()  # this process finishes what is left, taking back the dead senders' rows
    assert runner.wait(120)
    received = fakes.deliveries()
    assert kills >= 3
    for channel in ("telegram", "email"):
        arrivals = Counter(received[channel])
        assert len(arrivals) == 300, f"{channel}: a cooperator was missed"
        assert sum(arrivals.values()) - 300 <= kills, f"{channel}: more than one duplicate per kill"
    assert Counter(received["line"]) == Counter({address("line", n): 1 for n in range(600, 1200)})
    assert outbox_states(db_url, alert_id)["sent"] == len(mix)


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # about processes, not the database
def test_tsunagu_worker_is_started_again_when_a_worker_process_is_killed(
    fanout_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    environment = {**fanout_env, "TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/0"}
    supervisor = _start([sys.executable, "-m", "bot", "worker", "--processes", "1", "--threads", "1"],
                        environment, log)
    try:
        _until(lambda: any(_children(master) for master in _children(supervisor.pid)), 60,
               f"Dramatiq's worker process; the worker said: {log.read_text()[-2000:]}")
        first = _children(supervisor.pid)[0]
        os.kill(_children(first)[0], signal.SIGKILL)  # as the out-of-memory killer would

        def started_again() -> bool:
            masters = _children(supervisor.pid)
            return bool(masters) and masters[0] != first and bool(_children(masters[0]))

        _until(started_again, 90, f"Dramatiq started again; the worker said: {log.read_text()[-2000:]}")
        assert supervisor.poll() is None, "tsunagu worker itself kept running"
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(60)
        assert _children(supervisor.pid) == []
    finally:
        _kill(supervisor)
