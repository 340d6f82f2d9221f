"""Places at the right precision (issue 11, item 4): a report about a person needs a town.

A ward alone asks which town; 「わからない」 takes a landmark and flags the report for staff;
outside the city, or twice no place, ends the report with whom to call — never the same
question a third time. Wards and towns are shown in romaji to English residents.
"""

from __future__ import annotations

import pytest

from bot.engine import ConversationEngine
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, left, rendered, said

MINAMI_TOWNS = ["town:minami-1-1", "town:minami-1-2", "town:minami-1-3", "town:minami-1-4",
                "town:minami-2-1", "town:minami-2-2", "town:minami-2-3", "town:minami-2-4"]
WORRY = "隣のおばあさんを最近見かけない"


def _payloads(resident: Resident) -> list[str]:
    return [choice.payload for choice in resident.replies[-1].choices]


def _to_last_seen_where(family: Resident, first: str) -> None:
    """A missing report up to "where were they last seen?" (who is asked unless the first words tell)."""
    if said(family.send(first))[-1] == "utter_ask_missing_who":
        family.send("78歳の女性です。背が低いです")
    assert said(family.last)[-1] == "utter_ask_last_seen_where"


def _finish_worry(resident: Resident) -> None:
    assert said(resident.send("3日前から")) == ["utter_ask_callback_consent"]
    assert said(resident.send("いいえ")) == ["utter_worry_confirm"]
    assert said(resident.send("はい"))[0] in ("utter_worry_created", "utter_worry_linked")


def test_failure_3_a_ward_button_asks_which_town_of_the_worry_report(resident: Resident, db_url: str) -> None:
    """Issue 11, failure 3 as written: the 南区 button is not the place of a worry report."""
    assert said(resident.send(WORRY)) == ["utter_worry_intro", "utter_ask_where"]
    assert _payloads(resident) == ["ward:kita", "ward:chuo", "ward:minami", "place:unknown"]
    assert said(resident.send(postback="ward:minami")) == ["utter_ask_town_in_ward"]
    assert _payloads(resident) == [*MINAMI_TOWNS, "place:unknown"]
    assert "where" not in left(db_url, resident).slots
    assert said(resident.send(postback="town:minami-1-2")) == ["utter_ask_since_when"]
    where = left(db_url, resident).slots["where"]
    assert (where["area"]["town_id"], where["town_unknown"]) == ("minami-1-2", False)
    _finish_worry(resident)
    [case] = cases(db_url)
    assert (case.counter_id, case.town_id) == ("mimamori-minami", "minami-1-2")
    assert "town_unknown" not in case.details and "place_unknown" not in resident.last.effects[0].data


def test_failure_3_a_typed_ward_then_a_sound_alike_town(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    assert said(resident.send("南区")) == ["utter_ask_town_in_ward"]
    # 「あさひ」 is 北区 旭町 or 南区 朝日町: the ward said before decides.
    assert said(resident.send("あさひ")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-1-2"


def test_a_ward_in_the_first_message_asks_for_its_town(resident: Resident, db_url: str) -> None:
    first = resident.send("南区に住んでいる隣のおばあさんを最近見かけない")
    assert said(first)[-1] == "utter_ask_town_in_ward"
    assert _payloads(resident) == [*MINAMI_TOWNS, "place:unknown"]
    assert said(resident.send("住吉町")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-2-1"


def test_failure_3_a_last_seen_ward_asks_the_town_and_i_dont_know_takes_a_landmark(
        engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, user_id="family")
    _to_last_seen_where(family, "認知症の父が朝から帰ってこない")
    assert said(family.send(postback="ward:minami")) == ["utter_ask_town_in_ward"]
    assert said(family.send("分かりません")) == ["utter_ask_landmark"]
    assert said(family.send("スーパーいずみの前の交差点")) == ["utter_ask_last_seen_when"]
    where = left(db_url, family).slots["last_seen_where"]
    assert (where["ward_code"], where["area"]["town_id"], where["town_unknown"], where["landmark"]) == (
        "minami", None, True, "スーパーいずみの前の交差点")
    assert "スーパーいずみ" in where["label"], "staff see the landmark with the report"


def test_i_dont_know_without_a_ward_asks_the_ward_after_the_landmark(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    assert said(resident.send("4")) == ["utter_ask_landmark"], "the I don't know button"
    assert said(resident.send("大きな銭湯の裏")) == ["utter_ask_ward"]
    assert _payloads(resident) == ["ward:kita", "ward:chuo", "ward:minami", "place:unknown"]
    assert said(resident.send("北区")) == ["utter_ask_since_when"], "the ward is enough once the town is unknown"
    where = left(db_url, resident).slots["where"]
    assert (where["ward_code"], where["town_unknown"], where["landmark"]) == ("kita", True, "大きな銭湯の裏")
    _finish_worry(resident)
    [case] = cases(db_url)
    assert (case.counter_id, case.ward, case.town_id) == ("mimamori-kita", "kita", None)
    assert (case.details["town_unknown"], case.details["landmark"]) == (True, "大きな銭湯の裏"), "flagged for staff"
    assert resident.last.effects[0].data["place_unknown"] is True


def test_english_i_dont_know_to_the_town_question(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, language="en")
    resident.send("My elderly neighbour hasn't been seen for days and his mail is piling up")
    assert [c.title for c in resident.replies[-1].choices] == ["Kita-ku", "Chuo-ku", "Minami-ku", "I don't know"]
    assert said(resident.send("Minami-ku")) == ["utter_ask_town_in_ward"]
    titles = [c.title for c in resident.replies[-1].choices]
    assert titles[:2] == ["Minamimachi", "Asahicho"] and titles[-1] == "I don't know"
    assert said(resident.send("I don't know")) == ["utter_ask_landmark"]
    assert said(resident.send("behind the big public bath")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["town_unknown"] is True
    resident.send("since Monday")
    confirm = resident.send("no")
    assert said(confirm) == ["utter_worry_confirm"]
    gloss = rendered("utter_counter_kind_watch", "en")
    assert f"南区見守り相談室 (Minami-ku {gloss})" in confirm.replies[0].text, "the counter with an English gloss"


@pytest.mark.parametrize(("language", "text", "place", "label"), [
    ("en", "My elderly neighbour hasn't been seen for days and his mail is piling up", "Kita-ku Asahimachi 2-chome",
     "北区 旭町 2丁目 (Kita-ku Asahimachi)"),
    ("vi", "Bà cụ hàng xóm sống một mình, mấy ngày nay không thấy bà ra ngoài", "Minami-ku Izumicho",
     "南区 泉町 (Minami-ku Izumicho)"),
    # A reader of kanji gets the kanji alone.
    ("ja", WORRY, "北区旭町2丁目", "北区 旭町 2丁目"),
])
def test_the_place_is_confirmed_in_kanji_with_romaji_for_who_reads_no_kanji(
    engine: ConversationEngine, db_url: str, language: str, text: str, place: str, label: str
) -> None:
    resident = Resident(engine, language=language)
    resident.send(text)
    resident.send(place)
    assert left(db_url, resident).slots["where"]["label"] == label


@pytest.mark.parametrize(("language", "text", "label"), [
    ("vi", "Bà cụ hàng xóm ở Minami-ku Izumicho sống một mình, mấy ngày nay không thấy bà ra ngoài",
     "南区 泉町 (Minami-ku Izumicho)"),
    ("ja", "南区泉町の隣のおばあさんを最近見かけない。新聞がたまっている", "南区 泉町"),
])
def test_a_place_in_the_first_words_is_kept_as_a_place_answer_would_be(
    engine: ConversationEngine, db_url: str, language: str, text: str, label: str
) -> None:
    resident = Resident(engine, language=language)
    turn = resident.send(text)
    if "utter_safety_question" in said(turn):
        resident.send("2" if language == "ja" else "không")
    assert left(db_url, resident).slots["where"]["label"] == label


def test_twice_no_place_goes_on_with_the_words_for_staff(resident: Resident, db_url: str) -> None:
    """Not "outside the city" (which ends the report) without a sign of it: a town the
    directory does not know may be misspelt or misheard; staff read the words."""
    resident.send(WORRY)
    assert said(resident.send("ほげほげ村")) == ["utter_place_not_found", "utter_ask_where"]
    assert "place:unknown" in _payloads(resident)
    told = resident.send("ふがふが町")
    assert said(told) == ["utter_ask_since_when"], "never the same question a third time, and nothing lost"
    where = left(db_url, resident).slots["where"]
    assert (where["place_unknown"], where["landmark"]) == (True, "ほげほげ村 / ふがふが町")


def test_twice_no_town_in_a_known_ward_is_a_flagged_landmark(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    resident.send("南区")
    assert said(resident.send("ほげほげ")) == ["utter_place_not_found", "utter_ask_town_in_ward"]
    assert said(resident.send("駅の裏の団地")) == ["utter_ask_since_when"]
    where = left(db_url, resident).slots["where"]
    assert (where["ward_code"], where["town_unknown"], where["landmark"]) == ("minami", True, "ほげほげ / 駅の裏の団地")


def test_a_missing_person_last_seen_outside_the_city_is_told_to_call_110(
        engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, user_id="family-out")
    _to_last_seen_where(family, "認知症の母がいなくなりました")
    told = family.send("530-0001")
    assert said(told) == ["utter_outside_city"]
    assert "110" in told.replies[0].text and _payloads(family) == ["intent:talk_to_human"]
    assert left(db_url, family).flow is None and not cases(db_url)
    assert said(family.send("0"))[-1] in ("utter_ask_ward", "utter_handoff_open"), "the person button still works"


def test_a_ward_with_a_description_is_a_flagged_landmark(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, user_id="family-river")
    _to_last_seen_where(family, "認知症の母が出かけたまま戻りません")
    words = "北区の、いつも散歩している大きな川沿いの遊歩道のほうだと思います"
    assert said(family.send(words)) == ["utter_ask_last_seen_when"], "the ward and a description: no town question"
    where = left(db_url, family).slots["last_seen_where"]
    assert (where["ward_code"], where["town_unknown"], where["landmark"]) == ("kita", True, words)


def test_sound_alike_towns_then_the_ward_in_a_report(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    assert said(resident.send("あさひ")) == ["utter_ask_which_town"]
    assert _payloads(resident)[-1] == "place:unknown"
    assert said(resident.send("南区や")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-1-2"


# ---------------------------------------------------------------- read-backs on chat (issue 16, item 2)


def test_a_town_said_with_its_other_reading_is_read_back_and_no_asks_again(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    read_back = resident.send("やなぎちょう")
    assert said(read_back) == ["utter_place_read_back"] and "柳町" in read_back.replies[0].text
    assert said(resident.send("いいえ")) == ["utter_ask_where"], "no sound-alike: where again"
    resident.send("北区柳町です")
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "kita-2-2"


def test_a_ward_and_a_town_of_another_ward_ask_which(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    which = resident.send("南区の旭町です")
    assert said(which) == ["utter_ask_which_town"]
    assert _payloads(resident)[:2] == ["town:kita-2-4", "town:minami-1-2"], "never 北区 旭町 silently"
    assert said(resident.send("2")) == ["utter_ask_since_when"], "a button tapped is what they chose"
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-1-2"


def test_the_ward_choosing_a_sound_alike_is_read_back_yes_goes_on(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    assert said(resident.send("南区の あさひまちです")) == ["utter_place_read_back"]
    assert said(resident.send("はい")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-1-2"


def test_low_speech_confidence_reads_a_place_back(resident: Resident) -> None:
    resident.send(WORRY)
    assert said(resident.send("北区柳町です", metadata={"confidence": 0.31})) == ["utter_place_read_back"]
    resident.send("いいえ")
    assert said(resident.send("北区柳町です", metadata={"confidence": 0.92})) == ["utter_ask_since_when"]


def test_a_korean_reader_sees_the_kanji_with_its_romaji_and_a_korean_location_button(
    engine: ConversationEngine, db_url: str
) -> None:
    """Neither kanji nor Latin names are a Korean reader's own: the signs' kanji, read in romaji."""
    resident = Resident(engine, user_id="ko")
    assert said(resident.send("옆집 할머니가 며칠째 안 보여요. 신문이 쌓여 있어요")) == ["utter_worry_intro", "utter_ask_where"]
    asked = resident.replies[-1]
    assert [choice.title for choice in asked.choices[:3]] == ["北区 (Kita-ku)", "中央区 (Chuo-ku)", "南区 (Minami-ku)"]
    assert asked.request_location
    assert asked.location_label == engine.domain.text("utter_location_button_label", "ko", "test")
    assert asked.location_label != engine.domain.text("utter_location_button_label", "ja", "test")
    resident.send(postback="ward:kita")
    assert "旭町 (Asahimachi)" in [choice.title for choice in resident.replies[-1].choices]


@pytest.mark.parametrize(("language", "first", "unsure", "ward"), [
    ("en", "the old man next door hasn't been seen for a few days",
     "I'm not sure of the address, it's the blue house by the park", "Minami-ku"),
    ("ko", "옆집 할머니가 며칠째 안 보여요", "주소는 잘 몰라요. 공원 옆 파란 집이에요", "미나미구"),
    ("ja", WORRY, "住所はわからんけど、公園の横の青い家", "南区"),
])
def test_an_address_not_known_with_a_spot_instead_keeps_the_spot(engine: ConversationEngine, db_url: str,
                                                                 language: str, first: str, unsure: str,
                                                                 ward: str) -> None:
    """Found with `tsunagu chat`: the spot was dropped and a landmark asked for; the ward then
    given became the landmark."""
    resident = Resident(engine, language=language)
    resident.send(first)
    assert said(resident.send(unsure)) == ["utter_ask_ward"], "the spot was told: the ward is what is missing"
    assert said(resident.send(ward)) == ["utter_ask_town_in_ward"]
    # "I don't know" the town: settled with the ward and the spot.
    resident.send(postback="place:unknown")
    where = left(db_url, resident).slots["where"]
    assert (where["ward_code"], where["town_unknown"], where["landmark"]) == ("minami", True, unsure)


def test_a_bare_yes_is_never_a_landmark(resident: Resident, db_url: str) -> None:
    resident.send(WORRY)
    resident.send("南区")
    assert said(resident.send("はい")) == ["utter_place_not_found", "utter_ask_town_in_ward"]
    resident.send("駅の裏の団地")
    assert left(db_url, resident).slots["where"]["landmark"] == "駅の裏の団地"
