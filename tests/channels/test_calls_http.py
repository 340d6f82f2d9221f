"""Whole phone calls over real HTTP: the app served by uvicorn on loopback, several callers at
once through the call simulator, as ``benchmarks/voice_calls.py`` places them (slow lane)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from bot.app import build_engine, create_app
from bot.models import CaseKind
from tests.channels.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, cases, channel_settings, served_on_loopback
from tests.channels.voice_sim import HANG_UP, CallSimulator, ReadBack, TurnRecorder, press, say, status_callback_path

WORRY = [say("隣の おばあさんを 最近 見かけないんです"), say("南区朝日町3丁目"), ReadBack("朝日町"), say("三日前から"),
         press("2"), press("1"), HANG_UP]
EMERGENCY = [say("人が 倒れて 動かない"), HANG_UP]


@pytest.fixture
def served(engine_db: str) -> Iterator[tuple[str, TurnRecorder, str | None]]:
    """The app with only the voice channel, served by uvicorn on a random loopback port."""
    recorder = TurnRecorder(build_engine(engine_db).handle)
    app = create_app(channel_settings(engine_db), handler=recorder, channel_names=["voice"])
    with served_on_loopback(app) as url:
        yield url, recorder, status_callback_path(app)


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
