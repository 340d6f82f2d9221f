"""A worry report made with the phone's keys only (issue 16, item 5 and failure 5).

What was noticed and since when are menus of common answers, the town is a ward number then
a town number, read back; the case holds words a counter can act on — never a bare digit.
"""

from __future__ import annotations

from bot.engine import ConversationEngine
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, left, said

KEY = {"input": "dtmf"}


def _caller(engine: ConversationEngine) -> Resident:
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    caller.send(event="call_start")
    return caller


def _key(caller: Resident, digit: str) -> list[str | None]:
    return said(caller.send(digit, metadata=KEY))


def test_a_keypad_only_worry_report_is_a_case_in_words(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    assert _key(caller, "2")[-1] == "utter_ask_noticed"
    menu = caller.last.replies[-1]
    assert [c.payload for c in menu.choices] == ["noticed:newspapers", "noticed:not_seen", "noticed:unusual",
                                                 "noticed:smell", "noticed:noise", "noticed:other"]
    assert "9" not in [c.digit for c in menu.choices] and "0" not in [c.digit for c in menu.choices]
    assert _key(caller, "1") == ["utter_ask_where"]
    assert _key(caller, "1") == ["utter_ask_town_in_ward"], "ward 1: 北区"
    towns = caller.last.replies[-1].choices
    assert all(c.digit not in ("0", "9") for c in towns), "9 and 0 keep their meaning in every menu"
    assert _key(caller, "6") == ["utter_place_read_back"], "town 6 of 北区: 柳町, read back"
    assert "柳町" in caller.last.replies[-1].text
    assert _key(caller, "1")[-1] == "utter_ask_since_when"
    assert _key(caller, "3") == ["utter_ask_callback_consent"]
    assert _key(caller, "1") == ["utter_worry_confirm"], "the caller's own number"
    caller.send("1", metadata=KEY)
    [case] = cases(db_url)
    assert case.details["noticed"] == "新聞や郵便がたまっている"
    assert case.details["since_when"] == "1週間くらい前から"
    assert (case.town_id, case.details["where"], case.details["callback_phone"]) == ("kita-2-2", "北区 柳町",
                                                                                     "0312345678")
    assert "incomplete" not in case.details


def test_a_key_that_is_no_answer_is_never_stored(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    _key(caller, "2")
    caller.send("7", metadata=KEY)
    assert "noticed" not in left(db_url, caller).slots, "a bare digit is not what was noticed"
    assert _key(caller, "6") == ["utter_ask_noticed_words"], "「その他」: in the caller's words"
    assert said(caller.send("えーと 洗濯物が 何日も 干したまま なんです")) == ["utter_ask_where"]
    assert left(db_url, caller).slots["noticed"] == "洗濯物が 何日も 干したまま なんです", "without 「えーと」"


def test_the_town_is_read_back_and_no_offers_the_sound_alikes(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    caller.send("となりの おばあちゃんを さいきん みかけない")
    assert said(caller.send("えーと みなみく の あさひまち の スーパー の 前")) == ["utter_place_read_back"]
    assert "朝日町" in caller.last.replies[-1].text and "あさひちょう" in caller.last.replies[-1].text
    assert _key(caller, "2") == ["utter_ask_which_town"], "no: which of the towns that sound alike"
    titles = [c.title for c in caller.last.replies[-1].choices]
    assert titles[:2] == ["北区 旭町（あさひまち）", "南区 朝日町（あさひちょう）"], "both written forms read out"
    assert _key(caller, "1") == ["utter_place_read_back"]
    assert _key(caller, "1")[-1] == "utter_ask_since_when"
    where = left(db_url, caller).slots["where"]
    assert (where["area"]["town_id"], where["landmark"]) == ("kita-2-4", "スーパー の 前")
