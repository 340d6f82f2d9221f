"""Whole conversations of a family answering a sensor's 安否確認 (flows.safety_check), on the real
engine and database; sensor events and housekeeping run on the test's clock, never the wall's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.housekeeping import run_due_jobs
from bot.models import CaseEvent
from bot.models.sensors import CheckStatus
from flows.safety_check import _CONFIRMED, _UNREACHABLE
from intents.normalize import fold_for_matching
from tests.alerts.test_sensors import (  # noqa: F401 - sensor_secret: an autouse fixture
    checks,
    family_rows,
    household,
    hub_cases,
    ingest,
    report,
    sensor_secret,
)
from tests.bot.conftest import OPEN_HOURS, Resident
from tests.flows.conftest import effects, said

EARLIER = OPEN_HOURS - timedelta(minutes=5)


@pytest.fixture
def family(engine: ConversationEngine) -> Resident:
    """The household's family contact, on LINE (tests.alerts.test_sensors.FAMILY)."""
    return Resident(engine, channel="line", user_id="U-family-1")


@pytest.fixture
def registered(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)


def test_inactivity_then_the_family_confirms_and_the_check_closes(db_url: str, registered: None,
                                                                  family: Resident) -> None:
    ingest(db_url, report("meter-1", "no_power_use", EARLIER, hours=15))
    [check] = checks(db_url)
    assert family_rows(db_url) == [(f"check:{check.id}", "line", "U-family-1")]
    turn = family.send("1")
    assert said(turn) == ["utter_safety_check_confirmed"]
    [check] = checks(db_url)
    assert (check.status, check.answer, check.confirmed_at) == (CheckStatus.confirmed, "confirmed", family.now)
    assert check.answered_by == turn.contact_id
    assert hub_cases(db_url) == []
    # Housekeeping later: a confirmed check never reaches the hub.
    assert run_due_jobs(db_url, now=EARLIER + timedelta(hours=2))["safety checks escalated"] == 0


def test_the_button_confirms_too(db_url: str, registered: None, family: Resident) -> None:
    ingest(db_url, report("motion-1", "no_motion", EARLIER, hours=15))
    [check] = checks(db_url)
    assert said(family.send(postback=f"check:confirmed:{check.id}")) == ["utter_safety_check_confirmed"]
    assert checks(db_url)[0].status == CheckStatus.confirmed


def test_unreachable_escalates_to_the_hub_at_once(db_url: str, registered: None, family: Resident) -> None:
    ingest(db_url, report("meter-1", "no_power_use", EARLIER, hours=15))
    turn = family.send("連絡がつかない")
    assert said(turn) == ["utter_safety_check_escalated"]
    [case] = hub_cases(db_url)
    assert [kind for kind, _ in effects(turn)] == ["case_created"]
    assert (case.urgent, case.details["source"], case.counter_id) == (True, "sensor", "mimamori-kita")
    [check] = checks(db_url)
    assert (check.status, check.escalation, check.escalated_at, check.case_id) == (
        CheckStatus.escalated, "unreachable", family.now, case.id)


def test_no_answer_reaches_the_hub_within_the_wait_and_a_late_confirmation_is_passed_on(
        db_url: str, registered: None, family: Resident) -> None:
    ingest(db_url, report("meter-1", "no_power_use", EARLIER, hours=15))
    assert run_due_jobs(db_url, now=EARLIER + timedelta(minutes=59))["safety checks escalated"] == 0
    assert hub_cases(db_url) == []
    assert run_due_jobs(db_url, now=EARLIER + timedelta(minutes=60))["safety checks escalated"] == 1
    [case] = hub_cases(db_url)
    assert case.urgent and case.details["source"] == "sensor"
    family.now = EARLIER + timedelta(minutes=90)
    turn = family.send("確認できました")
    assert said(turn) == ["utter_safety_check_confirmed"]
    assert [kind for kind, _ in effects(turn)] == ["case_updated"]
    [check] = checks(db_url)
    assert (check.status, check.escalation) == (CheckStatus.confirmed, "no_answer")
    with session_scope(db_url) as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)).all()
    assert "details_added" in kinds  # the hub is told the family confirmed


def test_the_call_button_sends_119_guidance_and_opens_an_urgent_case(db_url: str, registered: None,
                                                                     family: Resident) -> None:
    ingest(db_url, report("button-1", "call_button", EARLIER))
    [check] = checks(db_url)
    [case] = hub_cases(db_url)
    assert family_rows(db_url) == [(f"sos:{check.id}", "line", "U-family-1")]
    assert (case.urgent, case.details["source"]) == (True, "sensor")
    turn = family.send("1")
    assert said(turn) == ["utter_safety_check_confirmed"]
    assert checks(db_url)[0].status == CheckStatus.confirmed


def test_an_english_family_answers_in_english(db_url: str, engine: ConversationEngine) -> None:
    with session_scope(db_url) as session:
        household(session, contacts=(("telegram", "777", "en"),))
    ingest(db_url, report("motion-1", "no_motion", EARLIER, hours=15))
    family = Resident(engine, channel="telegram", user_id="777")
    turn = family.send("I can't reach them")
    assert said(turn) == ["utter_safety_check_escalated"]
    assert turn.language == "en"


def test_a_resident_with_no_check_is_not_taken(db_url: str, registered: None, engine: ConversationEngine) -> None:
    ingest(db_url, report("meter-1", "no_power_use", EARLIER, hours=15))
    stranger = Resident(engine, channel="line", user_id="U-stranger")
    assert "utter_safety_check_confirmed" not in said(stranger.send("1"))
    [check] = checks(db_url)
    assert check.status == CheckStatus.pending
    # Nor can a stranger press another family's button.
    assert "utter_safety_check_confirmed" not in said(stranger.send(postback=f"check:confirmed:{check.id}"))
    assert checks(db_url)[0].status == CheckStatus.pending


def test_other_words_go_on_to_the_other_flows(db_url: str, registered: None, family: Resident) -> None:
    ingest(db_url, report("meter-1", "no_power_use", EARLIER, hours=15))
    turn = family.send("地域包括支援センターはどこですか")
    assert not {"utter_safety_check_confirmed", "utter_safety_check_escalated"} & set(said(turn))
    assert checks(db_url)[0].status == CheckStatus.pending


def test_collapsed_gets_119_first_and_escalates(db_url: str, registered: None, family: Resident) -> None:
    ingest(db_url, report("motion-1", "no_motion", EARLIER, hours=15))
    turn = family.send("母が倒れています")
    assert said(turn)[0] == "utter_emergency_119"
    [check] = checks(db_url)
    assert (check.status, check.escalation) == (CheckStatus.escalated, "emergency")
    assert hub_cases(db_url)[0].urgent


# ---------------------------------------------------------------------------- the residents' languages
# The question goes out in the family's language: its choice titles (responses/<lang>.yml), their
# own words for "confirmed / safe" and "cannot reach", and やさしい日本語's kana are answers.
CONFIRMED_WORDS = ["ぶじでした", "ぶじ", "かくにんできました", "已确认平安", "已確認平安", "확인했다", "Đã xác nhận an toàn",
                   "đã xác nhận", "Ligtas, nakumpirma", "Confirmei", "Sí, está bien", "सुरक्षित छन्"]
UNREACHABLE_WORDS = ["れんらくが つかない", "れんらくがとれない", "联系不上", "聯絡不上", "연락이 안 된다", "Không liên lạc được",
                     "Hindi makontak", "Não consigo contato", "No logro contactar", "सम्पर्क भएन"]


@pytest.mark.parametrize("words", CONFIRMED_WORDS)
def test_confirmed_in_the_residents_languages(words: str) -> None:
    plain = fold_for_matching(words)
    assert _CONFIRMED.match(plain) and not _UNREACHABLE.match(plain)


@pytest.mark.parametrize("words", UNREACHABLE_WORDS)
def test_unreachable_in_the_residents_languages(words: str) -> None:
    plain = fold_for_matching(words)
    assert _UNREACHABLE.match(plain) and not _CONFIRMED.match(plain)


@pytest.mark.parametrize("words", ["sí", "tudo bem", "괜찮아요", "はい"])
def test_a_bare_yes_is_no_answer_to_an_open_check(words: str) -> None:
    """While a check is open, "yes" or "it's fine" may answer another question."""
    plain = fold_for_matching(words)
    assert not _CONFIRMED.match(plain) and not _UNREACHABLE.match(plain)


def test_a_vietnamese_family_cannot_reach_them(db_url: str, engine: ConversationEngine) -> None:
    with session_scope(db_url) as session:
        household(session, contacts=(("telegram", "778", "vi"),))
    ingest(db_url, report("motion-1", "no_motion", EARLIER, hours=15))
    family = Resident(engine, channel="telegram", user_id="778", language="vi")
    assert said(family.send("Không liên lạc được")) == ["utter_safety_check_escalated"]
    assert checks(db_url)[0].status == CheckStatus.escalated
