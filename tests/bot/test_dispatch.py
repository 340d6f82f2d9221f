"""The engine's order of precedence: safety first, then interrupts, then the active flow, then
the classifier — each rule seen from a message that two of them could take."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import session_scope
from bot.models import Message, MessageDirection
from flows.registry import FLOWS
from tests.bot.conftest import Resident


def _responses(resident: Resident, text: str | None = None, **fields: object) -> list[str | None]:
    return [reply.response for reply in resident.send(text, **fields).replies]


def test_every_flow_is_listed_once() -> None:
    names = [flow.name for flow in FLOWS]
    assert len(names) == len(set(names))
    assert {"opening", "silence", "cancel", "talk_to_human", "out_of_scope"} <= set(names)


def test_safety_comes_before_the_active_flow(resident: Resident) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    turn = resident.send("倒れている、息をしていない")
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_119"
    assert "utter_after_emergency_resume" in [reply.response for reply in turn.replies]


def test_a_follow_greets_even_in_the_middle_of_a_flow(resident: Resident) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    assert _responses(resident, event="follow") == ["utter_greet", "utter_menu"]
    # The worry report was left: "1" now answers the menu.
    newcomer = Resident(resident.engine, user_id="newcomer", now=resident.now)
    assert _responses(resident, "1") == _responses(newcomer, postback="intent:ask_where")


def test_a_follow_and_a_cancel_leave_the_message_unclassified(resident: Resident, db_url: str) -> None:
    resident.send(event="follow")
    resident.send("母の介護のことで相談したい")
    resident.send("やめる")
    with session_scope(db_url) as session:
        intents = list(session.scalars(select(Message.intent).where(Message.direction == MessageDirection.inbound)
                                        .order_by(Message.id)))
    assert intents == [None, "ask_where", None]


def test_a_menu_button_starts_its_flow_from_inside_another(resident: Resident) -> None:
    resident.send("母の介護のことで相談したい")
    assert _responses(resident, postback="intent:report_missing")[0] == "utter_missing_intro"


def test_a_button_for_a_flow_not_run_here_says_what_we_do(resident: Resident) -> None:
    assert _responses(resident, postback="intent:book_a_holiday") == ["utter_out_of_scope", "utter_menu"]


def test_the_phone_key_zero_asks_for_a_person(resident: Resident) -> None:
    resident.send("母の介護のことで相談したい")
    assert _responses(resident, "0") == ["utter_ask_ward"]
