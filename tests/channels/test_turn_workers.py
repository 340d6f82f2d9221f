"""``tsunagu turns`` as its own process (``TSUNAGU_TURN_MODE=worker``): the web process only
stores and acknowledges LINE events; turn workers started beside it answer every one, each
resident's in the order they were written, at a lower CPU priority; SIGTERM stops a worker
cleanly. (The wake-ups themselves: tests/channels/test_inbox.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.models import InboxState
from bot.settings import settings
from tests.channels.conftest import (
    LINE_SECRET,
    LINE_TOKEN,
    channel_settings,
    open_client,
)
from tests.channels.test_inbox import (
    CRISIS,
    crisis_opening,
    post,
    rows,
    wait_until_answered,
)
from tests.fakes.line import FakeLineAPI, LineEvents

ROOT = Path(__file__).resolve().parents[2]
# What residents U1 and U2 write, one webhook per message.
WRITTEN = ["母が帰ってこないんです", "82歳です", CRISIS, "こんにちは"]


def start_turn_worker(database_url: str, line_url: str, log: Path) -> subprocess.Popen[bytes]:
    """``tsunagu turns``, its output in ``log``."""
    env = {
        **os.environ,
        "TSUNAGU_ENVIRONMENT": "test",
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_DATA_DIR": str(settings.data_dir),
        "TSUNAGU_TURN_MODE": "worker",
        "TSUNAGU_LINE_CHANNEL_SECRET": LINE_SECRET,
        "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
        "TSUNAGU_LINE_API_HOST": line_url,
        # The fake LINE's tokens never expire: on a slow or loaded machine a restart or a worker's
        # start-up may take longer than LINE's minute, and the test is about crashes, not clocks.
        "TSUNAGU_LINE_REPLY_TOKEN_SECONDS": "3600",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-c", "import sys; from bot.cli import app; sys.argv = ['tsunagu', 'turns']; app()"]
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_turn_workers_answer_what_the_web_process_stored_in_order_and_stop_on_sigterm(
    db_url: str, tmp_path: Path
) -> None:
    with FakeLineAPI(LINE_TOKEN) as line_api:
        line_events = LineEvents(line_api, LINE_SECRET)
        app_settings = channel_settings(db_url, line_api_host=line_api.url, turn_mode="worker",
                                        telegram_bot_token="")
        written = [line_events.text(resident, text) for text in WRITTEN for resident in ("U1", "U2")]
        async for client in open_client(app_settings, ["line"]):
            for event in written[:4]:
                assert (await post(client, line_events, event)).status_code == 200
            assert {row.state for row in rows(db_url)} == {InboxState.pending}, "the web process runs no turn"

            workers = [start_turn_worker(db_url, line_api.url, tmp_path / f"turns-{number}.log") for number in (1, 2)]
            try:
                for event in written[4:]:  # while the workers start, and once they run
                    assert (await post(client, line_events, event)).status_code == 200
                    await asyncio.sleep(0.5)
                await wait_until_answered(db_url, len(written))
                assert all(os.getpriority(os.PRIO_PROCESS, worker.pid) == settings.turn_worker_niceness
                           for worker in workers), "acknowledgements go first on shared cores"
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                codes = [worker.wait(60) for worker in workers]
    assert codes == [0, 0], [(tmp_path / f"turns-{number}.log").read_text()[-2000:] for number in (1, 2)]
    for resident in ("U1", "U2"):
        tokens = [event["replyToken"] for event in written if event["source"]["userId"] == resident]
        replied = [call.body["replyToken"] for call in line_api.calls("/reply") if call.body["replyToken"] in tokens]
        assert replied == tokens, f"{resident} was answered once per message, in the order written"
        assert any(text.startswith(crisis_opening()) for text in [m["text"] for m in line_api.messages_to(resident)])
