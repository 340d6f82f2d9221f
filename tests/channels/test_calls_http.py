"""Whole phone calls over real HTTP: the app served by uvicorn on loopback, several callers at
once through the call simulator, as ``benchmarks/voice_calls.py`` places them (slow lane)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from bot.app import build_engine, create_app
from bot.models import CaseKind
from tests.channels.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, cases, channel_settings
from tests.channels.voice_sim import HANG_UP, CallSimulator, ReadBack, TurnRecorder, press, say, status_callback_path

WORRY = [say("隣の おばあさんを 最近 見かけないんです"), say("南区朝日町3丁目"), ReadBack("朝日町"), say("三日前から"),
         press("2"), press("1"), HANG_UP]
EMERGENCY = [say("人が 倒れて 動かない"), HANG_UP]


@pytest.fixture
def served(engine_db: str) -> Iterator[tuple[str, TurnRecorder, str | None]]:
    """The app with only the voice channel, served by uvicorn on a random loopback port."""
    recorder = TurnRecorder(build_engine(engine_db).handle)
    app = create_app(channel_settings(engine_db), handler=recorder, channel_names=["voice"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(6000):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", recorder, status_callback_path(app)
    server.should_exit = True
    thread.join(15)


@pytest.mark.slow
async def test_concurrent_calls_over_http_lose_no_turn(served: tuple[str, TurnRecorder, str | None],
                                                       engine_db: str) -> None:
    base, recorder, status = served
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        line = CallSimulator(client, PUBLIC_BASE_URL, TWILIO_TOKEN, recorder=recorder, status_callback=status)
        calls = await asyncio.gather(*(line.call(WORRY if index % 2 else EMERGENCY, caller=f"+8190555{index:05d}")
                                       for index in range(8)))
    assert not [turn for call in calls for turn in call.lost_turns]
    worry_calls = calls[1::2]
    assert all("case_created" in call.effect_kinds() for call in worry_calls), worry_calls[0].transcript()
    assert all(call.turns[1].responses[0] == "utter_emergency_119" for call in calls[0::2])
    # Four reporters naming only the 丁目: four cases (a 丁目 alone never links reports).
    assert [case.kind for case in cases(engine_db)] == [CaseKind.worry] * 4
