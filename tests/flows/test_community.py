"""find_community, whole conversations: the nearest fitting community places with their
schedule and walking time; and the one line ask_where adds beside its counter.

Which places, and in which order, come from the sample city (若葉町 has a salon of its own;
緑町 to the north and 青葉台 to the west have the next ones); replies are checked by
response name and by the place names they carry, not by wording.
"""

from __future__ import annotations

from bot.engine import ConversationEngine
from bot.messages import TurnResult
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, effects, left, said
from tests.routing.conftest import read_csv

PLACE_NAMES = {row["id"]: row["name"] for row in read_csv("services.csv") if row["id"].startswith("community-")}
SALONS_NEAR_WAKABA = ["community-wakaba-salon", "community-midori-salon", "community-aobadai-salon"]
ANSWER_WITHOUT_LINE = ["utter_counter", "utter_counter_open_now", "utter_offer_callback"]


def places_named(turn: TurnResult) -> list[str]:
    """The community places the answer lists, in order (one reply each)."""
    named = []
    for reply in turn.replies:
        if reply.response == "utter_community_place":
            [place_id] = [place_id for place_id, name in PLACE_NAMES.items() if reply.text.startswith(name)]
            named.append(place_id)
    return named


def test_a_salon_near_wakabacho_gives_the_nearest_salons_with_schedule(resident: Resident, db_url: str) -> None:
    turn = resident.send("若葉町の近くのサロンを教えてください")
    assert said(turn) == ["utter_community_places", *["utter_community_place"] * 3]
    assert places_named(turn) == SALONS_NEAR_WAKABA
    first = turn.replies[1].text
    assert "毎週火曜 10:00〜12:00" in first and "徒歩約3分" in first
    assert left(db_url, resident) == Left(None, None, {}), "answered: the flow is over"


def test_the_place_is_asked_when_unknown_then_the_nearest_gathering_places(resident: Resident, db_url: str) -> None:
    turn = resident.send("近くで集まれる場所はありますか")
    assert said(turn) == ["utter_ask_community_place"]
    assert turn.replies[0].request_location
    assert [c.payload for c in turn.replies[0].choices] == ["ward:kita", "ward:chuo", "ward:minami"]
    assert left(db_url, resident) == Left("find_community", "place", {"community_kinds": ["salon", "kayoi"]})

    answered = resident.send("北区若葉町です")
    assert said(answered)[0] == "utter_community_places"
    assert places_named(answered) == SALONS_NEAR_WAKABA


def test_a_kodomo_shokudo_by_ward_then_town(resident: Resident, db_url: str) -> None:
    assert said(resident.send("子ども食堂はどこ")) == ["utter_ask_community_place"]
    assert said(resident.send("南区")) == ["utter_ask_town_in_ward"]
    answered = resident.send("日の出町")
    assert places_named(answered)[0] == "community-hinode-shokudo"
    assert all(PLACE_NAMES[p] and "shokudo" in p for p in places_named(answered))


def test_a_dementia_cafe_with_the_place_in_the_message(resident: Resident) -> None:
    turn = resident.send("認知症カフェに行きたいです。北区緑町に住んでいます")
    assert places_named(turn)[0] == "community-midori-cafe"
    assert all(p.endswith("-cafe") for p in places_named(turn))
    assert "毎月第1・第3土曜" in turn.replies[1].text


def test_english_gets_the_places_in_english(resident: Resident) -> None:
    turn = resident.send("Is there a dementia cafe near Midorimachi, Kita-ku?")
    assert said(turn)[0] == "utter_community_places"
    assert places_named(turn)[0] == "community-midori-cafe"
    assert "1st & 3rd Sat of the month" in turn.replies[1].text


def test_a_place_outside_the_city_is_said_so(resident: Resident, db_url: str) -> None:
    resident.send("子ども食堂はどこ")
    resident.send("東京都の渋谷区です")
    turn = resident.send("東京都の渋谷区です")
    assert said(turn) == ["utter_community_outside"]
    assert left(db_url, resident) == Left(None, None, {})


# --------------------------------------------------------------------------- beside the counter


def test_a_lonely_elder_with_a_known_town_gets_a_salon_beside_the_counter(resident: Resident) -> None:
    turn = resident.send("ひとり暮らしの母が最近寂しそうで、介護のことも相談したいです。北区若葉町に住んでいます")
    assert said(turn) == ["utter_counter", "utter_counter_open_now", "utter_community_nearby", "utter_offer_callback"]
    assert effects(turn) == [("answer_given", {"counter_id": "houkatsu-kita-1", "topic": "elderly"})]
    assert PLACE_NAMES["community-wakaba-salon"] in turn.replies[2].text


def test_the_line_waits_for_the_town_when_it_is_asked(resident: Resident) -> None:
    assert said(resident.send("父が認知症かもしれなくて、どこに相談すればいいですか")) == ["utter_ask_area"]
    turn = resident.send("北区緑町")
    assert said(turn) == ["utter_counter", "utter_counter_open_now", "utter_community_nearby", "utter_offer_callback"]
    assert PLACE_NAMES["community-midori-cafe"] in turn.replies[2].text


def test_no_line_for_words_or_topics_no_place_fits(resident: Resident, engine: ConversationEngine) -> None:
    assert said(resident.send("母の介護保険の申請をしたいです。北区若葉町です")) == ANSWER_WITHOUT_LINE
    turn = Resident(engine, user_id="resident-2").send("家賃が払えなくて困っています。寂しいです。北区若葉町です")
    assert "utter_community_nearby" not in said(turn)
    assert effects(turn)[0][0] == "answer_given"


def test_on_the_phone_the_town_is_read_back_then_the_places_are_spoken(engine: ConversationEngine) -> None:
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    caller.send(event="call_start")
    speech = {"input": "speech", "confidence": 0.9}
    assert said(caller.send("えーと 子ども食堂 は どこに ありますか", metadata=speech)) == ["utter_ask_community_place"]
    assert said(caller.send("南区 日の出町", metadata=speech)) == ["utter_place_read_back"]
    answer = caller.send("1", metadata={"input": "dtmf"})  # the town read back: yes
    assert said(answer)[0] == "utter_community_places"
    assert places_named(answer)[0] == "community-hinode-shokudo"
